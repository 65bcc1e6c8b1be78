"""Stage 4, model: the registered model at run time.

`scorer.LeadScorer` turns features into fit and intent scores, calibrated win probability,
expected revenue, stage (nurture / MQL / SQL) and grade; `reasons` explains them (exact TreeSHAP
by business field, in points of win probability); `predict` is the table-in, table-out contract
of the MLflow pyfunc (`mlflow_model`); `registry` finds versions and the champion in MLflow.
"""

from scoring.model.scorer import STAGES, LeadScorer, Thresholds

__all__ = ["STAGES", "LeadScorer", "Thresholds"]
