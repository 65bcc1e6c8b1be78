"""Drift of what a model sees: each feature's and the win probability's distribution now,
against the training leads', as the population stability index (PSI).

A profile is what training keeps of its leads (in the scorer's metadata, so it travels with
the model): for a numeric feature the decile edges and the share of leads in each bin, for a
categorical one the share of each of its most common values, and for both the share missing.
New leads are counted into the same bins (a category training never saw counts as `other`),
so a new lead source, a field that stopped being filled and a shifted score all show.

PSI = sum over bins of (now - then) * ln(now / then), shares floored at 0.0001: under 0.1 is
no change, 0.1-0.25 a moderate one, above 0.25 a shift worth acting on (the usual reading).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from scoring.features import FeatureInfo

BINS = 10
TOP_CATEGORIES = 20
OTHER = "(other)"
FLOOR = 1e-4


def _numeric(values: np.ndarray) -> dict:
    finite = values[np.isfinite(values)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1)[1:-1])) if len(finite) else []
    entry = {"kind": "numeric", "edges": [float(e) for e in edges]}
    return entry | {"shares": _numeric_shares(entry, values)}


def _numeric_shares(entry: Mapping, values: np.ndarray) -> list[float]:
    """Shares of the leads in each bin (right-closed on the edges), then missing."""
    values = np.asarray(values, dtype=np.float64)
    missing = ~np.isfinite(values)
    bins = np.searchsorted(np.asarray(entry["edges"]), values[~missing], side="left")
    counts = np.bincount(bins, minlength=len(entry["edges"]) + 1).astype(float)
    return _shares([*counts, missing.sum()], len(values))


def _categorical(values: pd.Series) -> dict:
    counts = values.dropna().astype(str).value_counts()
    entry = {"kind": "categorical", "categories": [str(c) for c in counts.index[:TOP_CATEGORIES]]}
    return entry | {"shares": _categorical_shares(entry, values)}


def _categorical_shares(entry: Mapping, values: pd.Series) -> list[float]:
    """Shares of each kept category, then every other value, then missing."""
    known = entry["categories"]
    text = values.astype(object).where(values.notna())
    present = text.dropna().astype(str)
    counts = present.value_counts()
    kept = [float(counts.get(c, 0)) for c in known]
    return _shares([*kept, len(present) - sum(kept), len(values) - len(present)], len(values))


def _shares(counts: Iterable[float], total: int) -> list[float]:
    counts = np.asarray(list(counts), dtype=float)
    return [float(c) for c in counts / max(total, 1)]


def shares_now(entry: Mapping, values: pd.Series | np.ndarray) -> list[float]:
    """`values` counted into the bins of a profile entry."""
    if entry["kind"] == "numeric":
        return _numeric_shares(entry, pd.to_numeric(pd.Series(values), errors="coerce").to_numpy())
    return _categorical_shares(entry, pd.Series(values))


def psi(then: Iterable[float], now: Iterable[float]) -> float:
    a = np.maximum(np.asarray(list(then), dtype=float), FLOOR)
    b = np.maximum(np.asarray(list(now), dtype=float), FLOOR)
    return float(np.sum((b - a) * np.log(b / a)))


def _entry(info: FeatureInfo, values: pd.Series) -> dict:
    if info.kind == "categorical":
        return _categorical(values) | {"group": info.group}
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    return _numeric(numeric) | {"group": info.group}


def build_profile(features: pd.DataFrame, probability: np.ndarray, spec: list[FeatureInfo]) -> dict:
    """What training keeps of its leads' features and win probabilities (JSON-ready)."""
    entries = {
        info.name: _entry(info, features[info.name]) for info in spec if info.name in features
    }
    score = _numeric(np.asarray(probability, dtype=np.float64))
    return {"leads": len(features), "features": entries, "score": score}


def missing_share(entry: Mapping) -> float:
    return float(entry["shares"][-1])


def compare(profile: Mapping, features: pd.DataFrame, probability: np.ndarray) -> dict:
    """PSI of the score and of every profiled feature of `features` against the profile, the
    features ordered by PSI, largest first."""
    rows = []
    for name, entry in profile["features"].items():
        if name not in features:
            continue
        now = shares_now(entry, features[name])
        rows.append(
            {
                "feature": name,
                "group": entry.get("group"),
                "psi": psi(entry["shares"], now),
                "missing_reference": missing_share(entry),
                "missing_now": float(now[-1]),
            }
        )
    rows.sort(key=lambda r: -r["psi"])
    score_now = shares_now(profile["score"], probability)
    return {"score_psi": psi(profile["score"]["shares"], score_now), "features": rows}
