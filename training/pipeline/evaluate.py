"""Model quality on the untouched test fold, and the gate that decides what gets registered."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from scoring.monitoring.calibration import expected_calibration_error, rank_auc


def top_share(y: np.ndarray, p: np.ndarray, value: np.ndarray, share: float) -> tuple[float, float]:
    """(lift, share of won value) among the top `share` of leads by score."""
    n = max(1, round(share * len(p)))
    top = np.argsort(-p, kind="stable")[:n]
    lift = y[top].mean() / y.mean() if y.mean() > 0 else float("nan")
    won_value = np.where(y == 1, value, 0.0)
    captured = won_value[top].sum() / won_value.sum() if won_value.sum() > 0 else float("nan")
    return float(lift), float(captured)


def bootstrap_auc(
    y: np.ndarray, scores: dict[str, np.ndarray], n: int, seed: int
) -> dict[str, np.ndarray]:
    """AUC of each score on the same resamples (paired), resamples with one class skipped."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {name: [] for name in scores}
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        for name, s in scores.items():
            out[name].append(rank_auc(y[idx], s[idx]))
    return {name: np.asarray(v) for name, v in out.items()}


def bootstrap_mean_interval(values: np.ndarray, n: int, seed: int) -> tuple[float, float]:
    """95% bootstrap interval of the mean of `values` (one resample at a time: a 100k-lead fold
    costs no more memory than the fold)."""
    rng = np.random.default_rng(seed)
    means = np.array([values[rng.integers(0, len(values), len(values))].mean() for _ in range(n)])
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def weighted_auc(y: np.ndarray, p: np.ndarray, weight: np.ndarray) -> float:
    """ROC AUC with each lead counted `weight` times; NaN when the won or the lost leads weigh
    nothing (no amounts known or estimated), where the weighted figure has no meaning."""
    w = np.nan_to_num(np.asarray(weight, dtype=float), nan=0.0)
    if w[y == 1].sum() <= 0 or w[y == 0].sum() <= 0:
        return float("nan")
    return float(roc_auc_score(y, p, sample_weight=w))


def metrics(
    y: np.ndarray, p: np.ndarray, value: np.ndarray, auc_samples: np.ndarray
) -> dict[str, float]:
    """Everything a data scientist and a RevOps lead look at for one model on one fold.
    `value` is each lead's deal value (known or estimated), used for revenue-weighted figures:
    for a source without amounts it is one constant, so they equal the unweighted ones."""
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    lift10, rev10 = top_share(y, p, value, 0.10)
    lift20, rev20 = top_share(y, p, value, 0.20)
    lo, hi = np.quantile(auc_samples, [0.025, 0.975]) if len(auc_samples) else (np.nan, np.nan)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "roc_auc_ci_low": float(lo),
        "roc_auc_ci_high": float(hi),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": float(expected_calibration_error(y, p)),
        "revenue_weighted_auc": weighted_auc(y, p, value),
        "lift_top10": lift10,
        "lift_top20": lift20,
        "revenue_share_top10": rev10,
        "revenue_share_top20": rev20,
    }


# The weakest ranking worth handing to sales: a refused model whose interval reaches it may rank
# that well, and what failed is the test fold's size, not the data's signal.
USEFUL_AUC = 0.6
WEAK = "The features of this data carry too little signal to rank leads better than a simple rule"
TOO_FEW = "The test fold has too few closed leads to tell them apart: train on more history"
TOO_FEW_FOR_CHANCE = (
    f"The test fold has too few closed leads to tell a useful ranking (AUC {USEFUL_AUC:g}) from "
    "chance: train on more history"
)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    message: str
    best_baseline: str
    auc_gain_ci: tuple[float, float]


def quality_gate(
    auc_samples: dict[str, np.ndarray], model: str, baselines: list[str], margin: float
) -> GateResult:
    """Register a model only when (1) its ROC AUC beats chance beyond the 95% bootstrap interval,
    (2) it ranks at least as well as the better baseline (median paired difference > 0), and
    (3) it is not worse than that baseline by more than `margin` at the low end of the 95%
    interval of the paired difference. (3) is a non-inferiority bound rather than strict
    superiority because a well-specified baseline can sit within a hair of the best achievable
    AUC (docs/training.md shows it on the synthetic world), where no test fold could separate it.
    """
    best = max(baselines, key=lambda b: float(np.median(auc_samples[b])))
    diff = auc_samples[model] - auc_samples[best]
    lo, hi = (float(x) for x in np.quantile(diff, [0.025, 0.975]))
    gain = float(np.median(diff))
    model_lo, model_hi = (float(x) for x in np.quantile(auc_samples[model], [0.025, 0.975]))
    why = _refusal((model_lo, model_hi), (gain, lo, hi), best, margin)
    if why is None:
        message = (
            f"Registered: ROC AUC {gain:+.3f} over the better baseline ({best}; 95% interval "
            f"{lo:+.3f} to {hi:+.3f}) and above chance (interval starts at {model_lo:.3f})."
        )
        return GateResult(True, message, best, (lo, hi))
    message = f"NOT registered: {why}. The run is logged in MLflow for inspection."
    return GateResult(False, message, best, (lo, hi))


def _refusal(
    auc: tuple[float, float], diff: tuple[float, float, float], best: str, margin: float
) -> str | None:
    """Why the gate refuses a model with this 95% AUC interval and this paired difference to the
    `best` baseline (median, interval), or None. It blames the data's signal when even the top
    of the intervals shows nothing worth having: a model's AUC short of `USEFUL_AUC`, or, behind
    the baseline, a gain short of `margin`; otherwise the test fold's size."""
    (model_lo, model_hi), (gain, lo, hi) = auc, diff
    useful = model_hi >= USEFUL_AUC
    if model_lo <= 0.5:
        interval = f"95% interval {model_lo:.3f} to {model_hi:.3f}"
        return f"its ROC AUC is not above chance ({interval}). " + (
            TOO_FEW_FOR_CHANCE if useful else WEAK
        )
    if gain <= 0:
        interval = f"AUC {gain:+.3f}, 95% interval {lo:+.3f} to {hi:+.3f}"
        return f"it does not rank leads better than the {best} baseline ({interval}). " + (
            TOO_FEW if useful and hi >= margin else WEAK
        )
    if lo < -margin:
        return (
            f"its edge over the {best} baseline is within noise (AUC {gain:+.3f}, 95% interval "
            f"{lo:+.3f} to {hi:+.3f}, allowed margin -{margin:.3f}). {TOO_FEW if useful else WEAK}"
        )
    return None
