"""Simpler handoff policies the threshold study has to beat: a fixed 0.5 cut-off on the win
probability, and scikit-learn's TunedThresholdClassifierCV choosing one cut-off with a
cost-sensitive scorer (every lead above it goes to sales, no SDR lane, no timing)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import make_scorer
from sklearn.model_selection import TunedThresholdClassifierCV

from scoring.config import CostModel

FIXED_CUTOFF = 0.5


class ProbabilityColumn(ClassifierMixin, BaseEstimator):
    """A "classifier" whose input is already the calibrated win probability (one column)."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> ProbabilityColumn:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = np.asarray(x, dtype=np.float64)[:, 0]
        return np.column_stack([1 - p, p])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


def handoff_gain(costs: CostModel, won_value: float):
    """Net value of handing off the predicted positives: a won lead brings its value beyond what
    nurture would have won; every handoff costs an AE's time."""

    def gain(y: np.ndarray, handed: np.ndarray) -> float:
        y, handed = np.asarray(y), np.asarray(handed)
        captured = won_value * (1 - costs.nurture_value_share)
        return float(np.sum(handed * (y * captured - costs.ae_cost_per_sql)))

    return gain


def tuned_single_cutoff(
    p: np.ndarray, won: np.ndarray, costs: CostModel, won_value: float
) -> float:
    """The win-probability cut-off TunedThresholdClassifierCV picks on (p, won) pairs."""
    scorer = make_scorer(handoff_gain(costs, won_value), response_method="predict")
    tuned = TunedThresholdClassifierCV(
        ProbabilityColumn().fit(p[:, None], won),
        scoring=scorer,
        cv="prefit",
        refit=False,
        thresholds=200,
    )
    tuned.fit(p[:, None], won)
    return float(tuned.best_threshold_)
