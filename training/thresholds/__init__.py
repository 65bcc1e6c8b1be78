"""The MQL/SQL cut-offs from the cost of handing off too early or too late, within capacity:
`outcome` (what a handoff is worth), `replay` (held-out leads rescored along their history),
`study` (the Optuna study), `storage` (studies kept in the MLflow database), `baselines`
(simpler policies to beat), `plots`; `tuning` runs the study for a trained model.
"""

from training.thresholds.tuning import TuneSettings, tune_thresholds

__all__ = ["TuneSettings", "tune_thresholds"]
