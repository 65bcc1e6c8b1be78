"""LightGBM boosters as the training recipe fits them: default settings, the feature groups,
the development folds and their cross-fitting blocks, early-stopping sets."""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.config import Config
from scoring.features import feature_spec
from scoring.model.scorer import Encoder, cores
from training.pipeline.dataset import TrainingSet

STOP_SHARE = 0.1  # of a booster's leads, spread over the fold order: its early-stopping set
DEV = ("train", "calibration", "validation")  # the development folds: all but test


MIN_DATA_IN_LEAF = 80  # the default: leaves of fewer leads are noise on 1,600 leads and more
MIN_LEAF_SHARE = 1 / 20  # of the leads, below that: a leaf of 80 on 180 leads is no split at all


def min_data_in_leaf(leads: int | None) -> int:
    """The default smallest leaf for a booster learning from about `leads` leads."""
    if leads is None:
        return MIN_DATA_IN_LEAF
    return int(np.clip(leads * MIN_LEAF_SHARE, 10, MIN_DATA_IN_LEAF))


def lightgbm_params(cfg: Config, objective: str = "binary", leads: int | None = None) -> dict:
    """The recipe's default settings (`training.lightgbm` overrides them); with `leads`, the
    smallest leaf scaled down for a small export."""
    params = {
        "objective": objective,
        "learning_rate": 0.02,
        "num_leaves": 7,
        "min_data_in_leaf": min_data_in_leaf(leads),
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 10.0,
        "cat_smooth": 20,
        "verbose": -1,
        "deterministic": True,
        "force_col_wise": True,
        "seed": cfg.training.seed,
    }
    return params | dict(cfg.training.lightgbm)


def with_threads(params: dict) -> dict:
    """`params` with LightGBM's thread count from `LEADSCORE_THREADS` (every core by default),
    unless they set one. Not part of a recipe: deterministic training gives the same trees on any
    count, and beside other busy processes (parallel tests) one thread each is far faster than
    OpenMP threads spinning against each other."""
    return {"num_threads": cores()} | params


def groups(cfg: Config) -> dict[str, list[str]]:
    """Feature names of each model that has features: "fit" and/or "intent"."""
    out: dict[str, list[str]] = {"fit": [], "intent": []}
    for info in feature_spec(cfg):
        out[info.group].append(info.name)
    return {g: names for g, names in out.items() if names}


JOINT = "joint"  # the challenger booster over both feature groups


def candidates(cfg: Config) -> dict[str, list[str]]:
    """The boosters the recipe cross-fits: `groups`, and with both groups a joint booster over
    all their features (it can learn fit x intent interactions the stack cannot)."""
    found = groups(cfg)
    return found | {JOINT: found["fit"] + found["intent"]} if len(found) == 2 else found


def categorical(cfg: Config) -> set[str]:
    return {f.name for f in feature_spec(cfg) if f.kind == "categorical"}


def fit_booster(
    encoder: Encoder,
    train: tuple[pd.DataFrame, np.ndarray, np.ndarray | None],
    stop: tuple[pd.DataFrame, np.ndarray, np.ndarray | None] | None,
    params: dict,
    rounds: int = 2000,
) -> lgb.Booster:
    """A booster with early stopping on `stop`; without `stop`, exactly `rounds` rounds."""
    (x, y, w) = train
    cats = encoder.categorical_indices or "auto"
    dtrain = lgb.Dataset(encoder.transform(x), y, weight=w, categorical_feature=cats)
    if stop is None:
        return lgb.train(with_threads(params), dtrain, num_boost_round=rounds)
    xs, ys, ws = stop
    dstop = lgb.Dataset(
        encoder.transform(xs), ys, weight=ws, categorical_feature=cats, reference=dtrain
    )
    return lgb.train(
        with_threads(params),
        dtrain,
        num_boost_round=rounds,
        valid_sets=[dstop],
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )


@dataclass(frozen=True)
class CrossValidated:
    """Boosters fitted on each block's complement, stopped together at `rounds`: where the mean
    of the held-out blocks' per-lead log loss (`loss`) stopped falling."""

    boosters: list[lgb.Booster]
    held: list[int]  # the block each booster predicts
    rounds: int
    loss: float

    def out_of_fold(self, x: np.ndarray, block: np.ndarray) -> np.ndarray:
        """Each row's logit from the booster that did not see its block; NaN for a block no
        booster predicts (the first, when chaining forward)."""
        logits = np.full(len(x), np.nan)
        for j, booster in zip(self.held, self.boosters, strict=True):
            held = block == j
            logits[held] = booster.predict(x[held], num_iteration=self.rounds, raw_score=True)
        return logits


def cross_folds(block: np.ndarray, forward: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fitted on, held out) row positions per held-out block: every other block, or with
    `forward` only the earlier ones (the first block is then never held out)."""
    held = np.unique(block)[1:] if forward else np.unique(block)
    return [
        (np.flatnonzero(block < j if forward else block != j), np.flatnonzero(block == j))
        for j in held
    ]


def cross_validate(
    encoder: Encoder,
    train: tuple[pd.DataFrame, np.ndarray, np.ndarray | None],
    block: np.ndarray,
    params: dict,
    forward: bool = False,
    rounds: int = 2000,
) -> CrossValidated:
    """`lgb.cv` over the blocks (0..k-1), weighted as `train` says, stopped on the per-lead
    (unweighted) log loss of the held-out blocks together, each at its own win rate
    (`level_free_log_loss`): every lead judges the round count, not a small stopping set."""
    x, y, w = train
    cats = encoder.categorical_indices or "auto"
    data = lgb.Dataset(encoder.transform(x), y, weight=w, categorical_feature=cats)
    folds = cross_folds(block, forward)
    result = lgb.cv(
        with_threads(params) | {"metric": "None"},
        data,
        num_boost_round=rounds,
        folds=folds,
        feval=_per_lead_log_loss,
        callbacks=[lgb.early_stopping(100, verbose=False)],
        return_cvbooster=True,
    )
    means = np.asarray(result["valid per_lead_logloss-mean"])
    best = int(np.argmin(means))
    held = [int(block[test[0]]) for _, test in folds]
    return CrossValidated(result["cvbooster"].boosters, held, best + 1, float(means[best]))


def _per_lead_log_loss(p: np.ndarray, data: lgb.Dataset) -> tuple[str, float, bool]:
    return "per_lead_logloss", level_free_log_loss(data.get_label(), p), False


def level_free_log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean per-lead log loss of a held-out block once its own win rate is put in: the logits
    shifted by the one intercept that makes their mean probability the block's win rate (the
    maximum-likelihood shift; 0 for a block of one class, where that shift is infinite, so
    such a block does not move the stopping round). It judges how a booster ranks and spreads
    the leads of a period, not whether its level follows the base rate from one period to the
    next, which the stacker's intercept per block takes care of. (On the bank export in time
    order, the base rate goes from 3% to 31%: the plain log loss of later blocks stopped the
    boosters after a few rounds, and one window's model ranked no better than chance.)"""
    rate = float(y.mean())
    if not 0.0 < rate < 1.0:  # one class: the shift runs off to infinity, the loss to 0
        return 0.0
    p = np.clip(p, 1e-15, 1 - 1e-15)
    z = np.log(p) - np.log1p(-p)
    level = float(p.mean())
    guess = math.log(rate / (1 - rate)) - math.log(level / (1 - level))
    z = z + _rate_shift(z, rate, guess)
    return float(np.mean(np.logaddexp(0, z) - y * z))


def _rate_shift(z: np.ndarray, rate: float, guess: float, steps: int = 25) -> float:
    """The shift that makes the mean of sigmoid(z + shift) equal `rate`: Newton's method from
    `guess` (steps capped at 1 logit against saturated leads), then bisection if that has not
    converged (the mean is monotone in the shift, and |z| <= 35 puts the answer within 80)."""

    def excess(shift: float) -> tuple[float, np.ndarray]:
        q = 1 / (1 + np.exp(-(z + shift)))
        return float(q.mean()) - rate, q

    shift = guess
    for _ in range(steps):
        gradient, q = excess(shift)
        if abs(gradient) < 1e-9:
            return shift
        curvature = max(float(np.dot(q, 1 - q)) / len(q), 1e-12)
        shift -= max(-1.0, min(1.0, gradient / curvature))
    low, high = -80.0, 80.0
    for _ in range(100):
        shift = (low + high) / 2
        gradient, _ = excess(shift)
        if abs(gradient) < 1e-9:
            break
        low, high = (low, shift) if gradient > 0 else (shift, high)
    return shift


def blocks(dev: TrainingSet, k: int) -> np.ndarray:
    """Each development lead's cross-fitting block, 0..k-1: contiguous in fold order."""
    block = np.empty(len(dev.label), dtype=int)
    block[dev.order] = np.arange(len(dev.label)) * k // max(len(dev.label), 1)
    return block


def stop_rows(data: TrainingSet, rows: np.ndarray) -> np.ndarray:
    """Of `rows` (a mask), every tenth in fold order: the early-stopping set of a booster
    fitted on the rest, spread over the whole period rather than its end."""
    ordered = [i for i in data.order if rows[i]]
    stop = np.zeros(len(rows), dtype=bool)
    stop[ordered[:: round(1 / STOP_SHARE)]] = True
    return stop


def log_losses(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Each lead's log loss (p is bounded away from 0 and 1 by the calibration)."""
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))
