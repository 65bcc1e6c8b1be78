"""Fit the fit and intent models (LightGBM, revenue-weighted), the combiner and calibration, and
the expected deal size; assemble the runtime `LeadScorer`.

A source without deal amounts (no revenue or opportunity amount column, or every amount missing)
trains unweighted whatever `training.weighting` says, and its deal size is the constant
`leads.deal_value` (1 when unset: expected revenue is then the win probability)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from scoring.config import Config
from scoring.features import feature_spec
from scoring.model.scorer import (
    Calibration,
    DealSize,
    Encoder,
    LeadScorer,
    Part,
    Thresholds,
    sigmoid,
)
from training.pipeline.dataset import TrainingSet, revenue_weights, weighting_used
from training.pipeline.evaluate import bootstrap_mean_interval

# Quantiles of the validation expected revenue used as cut-offs until the threshold study runs.
DEFAULT_MQL_QUANTILE, DEFAULT_SQL_QUANTILE = 0.70, 0.90
# Wins the calibration fold (which fits the isotonic steps) and the validation fold (which
# judges them) each need before isotonic is considered: with fewer, its steps are noise.
MIN_ISOTONIC_WINS = 50


def lightgbm_params(cfg: Config, objective: str = "binary") -> dict:
    params = {
        "objective": objective,
        "learning_rate": 0.02,
        "num_leaves": 7,
        "min_data_in_leaf": 80,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 10.0,
        "cat_smooth": 20,
        "verbose": -1,
        "num_threads": 2,
        "deterministic": True,
        "force_col_wise": True,
        "seed": cfg.training.seed,
    }
    return params | dict(cfg.training.lightgbm)


def groups(cfg: Config) -> dict[str, list[str]]:
    """Feature names of each model that has features: "fit" and/or "intent"."""
    out: dict[str, list[str]] = {"fit": [], "intent": []}
    for info in feature_spec(cfg):
        out[info.group].append(info.name)
    return {g: names for g, names in out.items() if names}


def categorical(cfg: Config) -> set[str]:
    return {f.name for f in feature_spec(cfg) if f.kind == "categorical"}


def fit_booster(
    encoder: Encoder,
    train: tuple[pd.DataFrame, np.ndarray, np.ndarray],
    stop: tuple[pd.DataFrame, np.ndarray, np.ndarray],
    params: dict,
) -> lgb.Booster:
    """A booster with early stopping on `stop` (the calibration fold)."""
    (x, y, w), (xs, ys, ws) = train, stop
    cats = encoder.categorical_indices or "auto"
    dtrain = lgb.Dataset(encoder.transform(x), y, weight=w, categorical_feature=cats)
    dstop = lgb.Dataset(
        encoder.transform(xs), ys, weight=ws, categorical_feature=cats, reference=dtrain
    )
    return lgb.train(
        params,
        dtrain,
        num_boost_round=2000,
        valid_sets=[dstop],
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )


def fit_deal_size(cfg: Config, data: TrainingSet, names: list[str]) -> DealSize:
    """log(amount) ~ fit features on leads with a known amount; the median when too few; the
    config's `leads.deal_value` (else 1 a win) when the source has no amounts at all."""
    if not data.has_amounts:
        if cfg.leads.deal_value is not None:
            return DealSize(cfg.leads.deal_value, basis="deal_value")
        return DealSize(1.0, basis="win")
    train, cal = data.part("train"), data.part("calibration")
    known = train.amount.notna().to_numpy()
    won_amounts = data.amount[data.label == 1].dropna()
    default = float((won_amounts if len(won_amounts) else data.amount.dropna()).median())
    if known.sum() < 50 or cal.amount.notna().sum() < 10:
        return DealSize(default)
    encoder = Encoder.fit(train.features[known], names, categorical(cfg))
    ck = cal.amount.notna().to_numpy()
    booster = fit_booster(
        encoder,
        (train.features[known], np.log(train.amount[known].to_numpy()), None),
        (cal.features[ck], np.log(cal.amount[ck].to_numpy()), None),
        lightgbm_params(cfg, "regression") | {"min_data_in_leaf": 20},
    )
    return DealSize(default, Part(encoder, booster))


def fit_parts(cfg: Config, data: TrainingSet, weights: np.ndarray) -> dict[str, Part]:
    train_mask = (data.fold == "train").to_numpy()
    cal_mask = (data.fold == "calibration").to_numpy()
    parts = {}
    for group, names in groups(cfg).items():
        encoder = Encoder.fit(data.features[train_mask], names, categorical(cfg))
        booster = fit_booster(
            encoder,
            (data.features[train_mask], data.label[train_mask].to_numpy(), weights[train_mask]),
            # early stopping on unweighted leads: weighted loss on a small fold is too noisy
            (data.features[cal_mask], data.label[cal_mask].to_numpy(), None),
            lightgbm_params(cfg),
        )
        parts[group] = Part(encoder, booster)
    return parts


def probability_bound(leads: int) -> float:
    """How close to 0 (and to 1) the win probability of a model that learnt from `leads` leads
    may go: 1 / (leads + 2), Laplace's rule of succession for a group of that many leads none of
    which won. No history of n leads can show a lead's chance to be below that, so the runtime
    does not claim it (and an isotonic step over all-lost leads does not say 0)."""
    return 1.0 / (leads + 2)


def log_losses(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Each lead's log loss (p is bounded away from 0 and 1 by the calibration)."""
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def isotonic_on(sig: Calibration, x_cal: np.ndarray, y_cal: np.ndarray) -> Calibration:
    """Isotonic steps over the stacker's probabilities on the calibration fold."""
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(sig.probability(x_cal), y_cal)
    return Calibration(
        sig.weights,
        "isotonic",
        tuple(map(float, iso.X_thresholds_)),
        tuple(map(float, iso.y_thresholds_)),
        sig.bound,
    )


def isotonic_verdict(
    wins: tuple[int, int], gain: np.ndarray, resamples: int, seed: int
) -> tuple[bool, str]:
    """Whether isotonic replaces the stacker, and why. `wins`: wins of the calibration and
    validation folds; `gain`: each validation lead's log loss under sigmoid minus under isotonic.
    Isotonic is chosen only when both folds have `MIN_ISOTONIC_WINS` wins and its mean gain is
    above 0 at the low end of the 95% paired-bootstrap interval: a lower mean log loss alone is
    often the noise of a small fold, and isotonic steps are the likelier to be overfitted."""
    if min(wins) < MIN_ISOTONIC_WINS:
        return False, (
            f"sigmoid: isotonic needs {MIN_ISOTONIC_WINS} wins in the calibration and the "
            f"validation fold, found {wins[0]} and {wins[1]}"
        )
    lo, hi = bootstrap_mean_interval(gain, resamples, seed)
    interval = f"{gain.mean():+.5f} (95% interval {lo:+.5f} to {hi:+.5f})"
    if gain.mean() <= 0:
        return False, f"sigmoid: isotonic does not lower validation log loss ({interval})"
    if lo <= 0:
        return False, f"sigmoid: isotonic's validation log-loss gain {interval} is within noise"
    return True, f"isotonic: lowers validation log loss by {interval}"


def fit_calibration(
    parts: dict[str, Part],
    cal: TrainingSet,
    val: TrainingSet | None,
    bound: float,
    resamples: int = 300,
    seed: int = 0,
) -> tuple[Calibration, dict[str, float], str]:
    """Logistic stacker on the part logits (calibration fold, unweighted so probabilities are
    per lead, not per dollar), kept within [bound, 1 - bound]; isotonic on top only when
    `isotonic_verdict` says so on `val`. Without `val` the stacker alone. Returns the
    calibration, the validation log loss of each method and why it was chosen."""
    x_cal = np.column_stack([p.raw(cal.features) for p in parts.values()])
    stacker = LogisticRegression(C=10.0, max_iter=1000).fit(x_cal, cal.label)
    weights = (float(stacker.intercept_[0]), *map(float, stacker.coef_[0]))
    sig = Calibration(weights, "sigmoid", bound=bound)
    if val is None:
        return sig, {}, "sigmoid: the stacker alone (no validation fold to choose on)"
    x_val = np.column_stack([p.raw(val.features) for p in parts.values()])
    iso = isotonic_on(sig, x_cal, cal.label.to_numpy())
    y = val.label.to_numpy()
    loss = {m.method: log_losses(y, m.probability(x_val)) for m in (sig, iso)}
    wins = (int(cal.label.sum()), int(val.label.sum()))
    chosen, why = isotonic_verdict(wins, loss["sigmoid"] - loss["isotonic"], resamples, seed)
    return (iso if chosen else sig), {m: float(v.mean()) for m, v in loss.items()}, why


def score_grid(parts: dict[str, Part], train: TrainingSet) -> dict[str, tuple[float, ...]]:
    grid = {}
    for name, part in parts.items():
        q = np.quantile(part.raw(train.features), np.linspace(0, 1, 101))
        grid[name] = tuple(map(float, q + np.arange(len(q)) * 1e-9))  # strictly increasing
    return grid


def default_thresholds(expected_revenue: np.ndarray) -> Thresholds:
    mql, sql = np.quantile(expected_revenue, [DEFAULT_MQL_QUANTILE, DEFAULT_SQL_QUANTILE])
    return Thresholds(mql=float(mql), sql=float(max(sql, mql)), min_fit=0.0, source="default")


def fit_scorer(
    cfg: Config, data: TrainingSet, isotonic: bool = True
) -> tuple[LeadScorer, dict[str, float]]:
    """Every fitted piece of the runtime model, plus the calibration choice losses. The
    validation fold chooses the calibration; with `isotonic=False` the stacker alone calibrates
    and the validation fold is not used at all. The metadata records the weighting used and
    why the calibration was chosen."""
    deal_names = groups(cfg).get("fit") or next(iter(groups(cfg).values()))
    deal = fit_deal_size(cfg, data, deal_names)
    weights = revenue_weights(cfg, data, deal.amount(data.features))
    parts = fit_parts(cfg, data, weights)
    cal = data.part("calibration")
    val = data.part("validation") if isotonic else None
    learnt_from = int(data.fold.isin(("train", "calibration")).sum())
    calibration, losses, why = fit_calibration(
        parts, cal, val, probability_bound(learnt_from), cfg.training.bootstrap, cfg.training.seed
    )
    held = cal if val is None else val  # the fold the default cut-offs come from
    held_p = calibration.probability(
        np.column_stack([p.raw(held.features) for p in parts.values()])
    )
    scorer = LeadScorer(
        config=cfg,
        parts=parts,
        calibration=calibration,
        score_grid=score_grid(parts, data.part("train")),
        deal_size=deal,
        thresholds=default_thresholds(held_p * deal.amount(held.features)),
        metadata={
            "rounds": {n: p.booster.best_iteration for n, p in parts.items()},
            "weighting": weighting_used(cfg, data),
            "calibration": why,
        },
    )
    return scorer, losses


def part_probability(scorer: LeadScorer, name: str, features: pd.DataFrame) -> np.ndarray:
    """A single part's own probability (uncalibrated), for comparing it alone."""
    return sigmoid(scorer.parts[name].raw(features))
