"""The model card: what a training learnt, in one small JSON document (`card.json`, saved in the
scorer folder of every logged model): the data and its period, the recipe, the metrics with
their intervals next to the baselines, a calibration curve, the fields that matter most and the
gate decision. The threshold study adds its own section (`training.thresholds.whatif`), and the
report page (`scoring.monitoring.page`) renders it."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from scoring.data.database import connect
from scoring.data.load import load_leads
from scoring.model.reasons import contributions
from scoring.model.registry import model_name
from training.pipeline.run import TrainResult

CARD_VERSION = 1
CALIBRATION_BANDS = 10
TOP_FIELDS = 12


def jsonable(value: Any) -> Any:
    """Plain JSON: NaN and infinities become None, numpy numbers Python ones, tuples lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def calibration_curve(y: np.ndarray, p: np.ndarray, bands: int = CALIBRATION_BANDS) -> list[dict]:
    """Predicted against observed win rate of the test fold, in bands of equal size by
    predicted probability (the lowest first)."""
    order = np.argsort(p, kind="stable")
    out = []
    for idx in np.array_split(order, min(bands, len(order))):
        if not len(idx):
            continue
        out.append(
            {
                "low": float(p[idx].min()),
                "high": float(p[idx].max()),
                "leads": len(idx),
                "predicted": float(p[idx].mean()),
                "observed": float(y[idx].mean()),
            }
        )
    return out


def top_fields(result: TrainResult, top: int = TOP_FIELDS) -> list[dict]:
    """Business fields by mean |impact| on the test fold's win probability, in points (exact
    TreeSHAP carried through the combiner, `scoring.model.reasons`), with their model."""
    from scoring.model.wording import business_groups

    scorer = result.scorer
    found = contributions(scorer, result.data.part("test").features)
    mean_abs = np.abs(found.points).mean(axis=0)
    groups = business_groups(scorer)
    ranked = sorted(range(len(groups)), key=lambda g: -mean_abs[g])[:top]
    return [
        {
            "field": groups[g].field,
            "label": groups[g].label,
            "model": groups[g].model,
            "mean_abs_points": float(mean_abs[g]),
        }
        for g in ranked
    ]


def data_period(result: TrainResult) -> dict[str, str | None]:
    """First and last creation date of the labelled leads (None without creation dates, or
    when the lead database cannot be read at logging time)."""
    cfg = result.config
    try:
        leads, _ = load_leads(cfg, connect(cfg.source.database))
    except Exception:  # the card is still worth writing without its period
        return {"first": None, "last": None}
    created = leads.meta["created_at"].reindex(result.data.label.index)
    if created.isna().all():
        return {"first": None, "last": None}
    return {"first": _day(created.min()), "last": _day(created.max())}


def _day(value: Any) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def model_card(result: TrainResult, code_version: str = "unknown") -> dict:
    """The card of a training (no threshold study yet: `thresholds` is None)."""
    cfg, data, scorer = result.config, result.data, result.registered
    test = data.part("test")
    y = test.label.to_numpy()
    thresholds = scorer.thresholds
    card = {
        "card_version": CARD_VERSION,
        "source": cfg.name,
        "registered_model": model_name(cfg.name),
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code_version": code_version,
        "data": {
            "leads": len(data.label),
            "won": int(data.label.sum()),
            "win_rate": float(data.label.mean()),
            "period": data_period(result),
            "folds": {str(k): int(v) for k, v in data.fold.value_counts().sort_index().items()},
            "test_leads": len(y),
            "weighting": result.weighting,
        },
        "recipe": result.scorer.metadata.get("recipe", ""),
        "refit": scorer.metadata.get("refit"),
        "calibration_method": scorer.metadata.get("calibration", ""),
        "metrics": result.metrics,
        "baselines": ["logistic_regression", "naive_bayes"],
        "calibration_curve": calibration_curve(y, result.predictions["combined"]),
        "top_fields": top_fields(result),
        "gate": {"passed": result.gate.passed, "message": result.gate.message},
        "cutoffs_in_use": {
            "mql": thresholds.mql,
            "sql": thresholds.sql,
            "min_fit": thresholds.min_fit,
            "source": thresholds.source,
        },
        "thresholds": None,
    }
    return jsonable(card)
