"""The MQL/SQL cut-offs from the cost of handing off too early or too late, within capacity:
`outcome` (what a handoff is worth), `timeline` (held-out leads scored along their history),
`replay` (a policy replayed on the timeline), `response` (response times, the history's speed and
not-ready rejections from sales feedback),
`study` (the Optuna study), `storage` (studies kept in the MLflow database), `baselines`
(simpler policies to beat), `plots`, `units` (what money is counted in), `report` (the text
RevOps reads); `tuning` runs the study for a trained model.
"""

from training.thresholds.report import decision_text, tuning_text
from training.thresholds.tuning import TuneSettings, tune_thresholds
from training.thresholds.units import check_cost_units, format_amount

__all__ = [
    "TuneSettings",
    "check_cost_units",
    "decision_text",
    "format_amount",
    "tune_thresholds",
    "tuning_text",
]
