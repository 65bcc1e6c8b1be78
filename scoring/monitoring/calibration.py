"""Whether win probabilities still match what closes, and still rank: ECE, ROC AUC and
predicted vs observed by band, with bootstrap intervals. Training's evaluation uses the same
ECE, so a model's test figure and its live one are the same measure."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed - predicted| over `bins` quantile bins of the prediction, weighted by
    size. Equal predictions share a bin: split by row order, a model predicting one rate for
    every lead was charged the bins' sampling noise (0.03-0.05 on 900 leads), not its error."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)[1:-1]))
    which = np.searchsorted(edges, p, side="right")
    gap = np.abs(np.bincount(which, y, len(edges) + 1) - np.bincount(which, p, len(edges) + 1))
    return float(gap.sum() / max(len(y), 1))


def rank_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (a tie counts half), which is what scikit-learn's
    `roc_auc_score` computes, without its input checks (they cost more than the AUC itself on a
    resample); NaN without both classes."""
    won = np.asarray(y) == 1
    n_won = int(won.sum())
    if n_won in (0, len(won)):
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[won].sum() - n_won * (n_won + 1) / 2) / (n_won * (len(won) - n_won)))


def rate_ratio(y: np.ndarray, p: np.ndarray) -> float:
    """Observed win rate over the predicted one (1: the base rate is where the model put it)."""
    predicted = float(np.mean(p)) if len(p) else 0.0
    return float(np.mean(y)) / predicted if predicted > 0 else float("nan")


Metric = Callable[[np.ndarray, np.ndarray], float]


def interval(
    y: np.ndarray, p: np.ndarray, metric: Metric, resamples: int, seed: int, level: float = 0.9
) -> tuple[float, float]:
    """The `level` bootstrap interval of `metric` over the leads."""
    rng = np.random.default_rng(seed)
    n = len(y)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        values.append(metric(y[idx], p[idx]))
    values = np.asarray(values)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bands(y: np.ndarray, p: np.ndarray, edges: Sequence[float]) -> list[dict]:
    """Predicted vs observed win rate in each win-probability band (empty bands left out)."""
    cuts = [0.0, *edges, 1.0]
    which = np.clip(np.searchsorted(np.asarray(edges), p, side="right"), 0, len(cuts) - 2)
    rows = []
    for i in range(len(cuts) - 1):
        inside = which == i
        if inside.any():
            rows.append(
                {
                    "low": cuts[i],
                    "high": cuts[i + 1],
                    "leads": int(inside.sum()),
                    "predicted": float(p[inside].mean()),
                    "observed": float(y[inside].mean()),
                }
            )
    return rows
