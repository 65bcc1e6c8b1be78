"""Fit the fit and intent models (LightGBM, revenue-weighted), the combiner and calibration, and
the expected deal size; assemble the runtime `LeadScorer`."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

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
from training.pipeline.dataset import TrainingSet, revenue_weights

# Quantiles of the validation expected revenue used as cut-offs until the threshold study runs.
DEFAULT_MQL_QUANTILE, DEFAULT_SQL_QUANTILE = 0.70, 0.90


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
    """log(amount) ~ fit features on leads with a known amount; the median when too few."""
    train, cal = data.part("train"), data.part("calibration")
    known = train.amount.notna().to_numpy()
    won_amounts = data.amount[data.label == 1].dropna()
    default = float(won_amounts.median()) if len(won_amounts) else 0.0
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


def fit_calibration(
    parts: dict[str, Part], cal: TrainingSet, val: TrainingSet | None
) -> tuple[Calibration, dict[str, float]]:
    """Logistic stacker on the part logits (calibration fold, unweighted so probabilities are
    per lead, not per dollar); isotonic on top only if it lowers log loss on `val`. Without
    `val` the stacker alone (too few wins make isotonic steps noise)."""
    x_cal = np.column_stack([p.raw(cal.features) for p in parts.values()])
    stacker = LogisticRegression(C=10.0, max_iter=1000).fit(x_cal, cal.label)
    weights = (float(stacker.intercept_[0]), *map(float, stacker.coef_[0]))
    sig = Calibration(weights, "sigmoid")
    if val is None:
        return sig, {}
    x_val = np.column_stack([p.raw(val.features) for p in parts.values()])
    iso_model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso_model.fit(sig.probability(x_cal), cal.label)
    iso = Calibration(
        weights,
        "isotonic",
        tuple(map(float, iso_model.X_thresholds_)),
        tuple(map(float, iso_model.y_thresholds_)),
    )
    losses = {
        m.method: log_loss(val.label, np.clip(m.probability(x_val), 1e-6, 1 - 1e-6), labels=[0, 1])
        for m in (sig, iso)
    }
    return (iso if losses["isotonic"] < losses["sigmoid"] else sig), losses


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
    and the validation fold is not used at all."""
    deal_names = groups(cfg).get("fit") or next(iter(groups(cfg).values()))
    deal = fit_deal_size(cfg, data, deal_names)
    weights = revenue_weights(cfg, data.label, data.amount, deal.amount(data.features))
    parts = fit_parts(cfg, data, weights)
    cal = data.part("calibration")
    val = data.part("validation") if isotonic else None
    calibration, losses = fit_calibration(parts, cal, val)
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
        metadata={"rounds": {n: p.booster.best_iteration for n, p in parts.items()}},
    )
    return scorer, losses


def part_probability(scorer: LeadScorer, name: str, features: pd.DataFrame) -> np.ndarray:
    """A single part's own probability (uncalibrated), for comparing it alone."""
    return sigmoid(scorer.parts[name].raw(features))
