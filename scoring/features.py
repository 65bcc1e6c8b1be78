"""Point-in-time features: f(leads, events, as_of) -> fit features and intent features.

The one feature implementation: training, batch rescoring and the real-time endpoint all call
`build_features`. An event counts only if it happened at or before the lead's `as_of`; a date
field after `as_of` is treated as unknown. Nothing here looks at labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np
import pandas as pd

from scoring.config import (
    CategoricalField,
    Config,
    FieldSpec,
    JobTitleField,
    NumericField,
    TagsField,
    TimestampField,
    slug,
)
from scoring.titles import SENIORITY_RANK, normalise_title

Group = Literal["fit", "intent"]
Kind = Literal["numeric", "categorical"]
_US_PER_DAY = 86_400 * 1_000_000


@dataclass(frozen=True)
class FeatureInfo:
    """One model feature: where it comes from and how to say it to a sales rep."""

    name: str
    group: Group
    kind: Kind
    field: str  # the business field it belongs to (config column or event type)
    label: str  # e.g. "Pricing page visits, last 7 days"


# ---------------------------------------------------------------- spec (from config alone)


def _band_labels(bands: Sequence[float]) -> list[str]:
    fmt = [_short_number(b) for b in bands]
    inner = [f"{lo}-{hi}" for lo, hi in pairwise(fmt)]
    return [f"<{fmt[0]}", *inner, f"{fmt[-1]}+"]


def _short_number(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _field_spec(field: FieldSpec, group: Group) -> list[FeatureInfo]:
    name, label, col = field.base_name, field.business_label, field.column
    if isinstance(field, JobTitleField):
        return [
            FeatureInfo(f"{name}_seniority", group, "categorical", col, f"{label}: seniority"),
            FeatureInfo(
                f"{name}_seniority_rank", group, "numeric", col, f"{label}: seniority level"
            ),
            FeatureInfo(f"{name}_department", group, "categorical", col, f"{label}: department"),
        ]
    if isinstance(field, TagsField):
        out = []
        for group_name, tags in field.groups.items():
            out += [
                FeatureInfo(f"{name}_{slug(t)}", group, "numeric", col, f"{label}: {t}")
                for t in tags
            ]
            out.append(
                FeatureInfo(
                    f"{name}_{group_name}_count", group, "numeric", col, f"{label}: {group_name}"
                )
            )
        return out
    if isinstance(field, TimestampField):
        return [
            FeatureInfo(f"{name}_days_ago", group, "numeric", col, f"Days since {label.lower()}")
        ]
    if isinstance(field, CategoricalField):
        return [FeatureInfo(name, group, "categorical", col, label)]
    infos = [FeatureInfo(name, group, "numeric", col, label)]
    if isinstance(field, NumericField) and field.bands:
        infos.append(FeatureInfo(f"{name}_band", group, "categorical", col, f"{label} band"))
    return infos


def _event_spec(cfg: Config) -> list[FeatureInfo]:
    spec = cfg.events
    if spec is None:
        return []
    out = []
    for w in spec.windows_days:
        out.append(
            FeatureInfo(
                f"events_{w}d", "intent", "numeric", "engagement", f"Activities, last {w} days"
            )
        )
        for t in spec.types:
            words = t.replace("_", " ")
            out.append(FeatureInfo(f"{t}_{w}d", "intent", "numeric", t, f"{words}, last {w} days"))
    out += [
        FeatureInfo(
            "days_since_last_event", "intent", "numeric", "engagement", "Days since last activity"
        ),
        FeatureInfo(
            "days_since_first_event", "intent", "numeric", "engagement", "Days since first activity"
        ),
        FeatureInfo(
            "engagement_score", "intent", "numeric", "engagement", "Recent engagement (decayed)"
        ),
    ]
    if spec.hand_raise:
        for t in spec.hand_raise:
            out.append(
                FeatureInfo(f"{t}_ever", "intent", "numeric", t, f"Ever: {t.replace('_', ' ')}")
            )
        out += [
            FeatureInfo("hand_raises", "intent", "numeric", "hand_raise", "Hand-raises so far"),
            FeatureInfo(
                "days_since_hand_raise",
                "intent",
                "numeric",
                "hand_raise",
                "Days since last hand-raise",
            ),
        ]
    return out


def feature_spec(cfg: Config) -> list[FeatureInfo]:
    """All features in output order; depends on the config only, never on data."""
    fit = [info for f in cfg.features.fit for info in _field_spec(f, "fit")]
    intent = [info for f in cfg.features.intent for info in _field_spec(f, "intent")]
    return fit + intent + _event_spec(cfg)


# ---------------------------------------------------------------- values


def to_days(values: pd.Series | np.ndarray) -> np.ndarray:
    """Timestamps -> float days since the epoch (NaN for NaT)."""
    arr = np.asarray(values, dtype="datetime64[us]")
    days = arr.astype("int64") / _US_PER_DAY
    return np.where(np.isnat(arr), np.nan, days)


def _as_of_days(as_of: object, index: pd.Index) -> np.ndarray:
    if as_of is None:
        as_of = pd.Timestamp.now(tz="UTC")
    if isinstance(as_of, pd.Series):
        as_of = as_of.reindex(index)
    stamps = pd.to_datetime(as_of, utc=True)
    stamps = (
        stamps.tz_convert(None) if not isinstance(stamps, pd.Series) else stamps.dt.tz_convert(None)
    )
    values = np.broadcast_to(np.asarray(stamps, dtype="datetime64[us]"), (len(index),))
    if np.isnat(values).any():
        raise ValueError("as_of: every lead needs a point in time")
    return to_days(values)


def _field_values(field: FieldSpec, values: pd.Series, as_of: np.ndarray) -> list[np.ndarray]:
    if isinstance(field, JobTitleField):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        pairs = [normalise_title(u) for u in uniques]
        seniority = np.array([p[0] for p in pairs] + ["unknown"], dtype=object)[codes]
        department = np.array([p[1] for p in pairs] + ["unknown"], dtype=object)[codes]
        rank = np.array([SENIORITY_RANK.get(p[0], np.nan) for p in pairs] + [np.nan])[codes]
        return [seniority, rank.astype(float), department]
    if isinstance(field, TagsField):
        return _tag_values(field, values)
    if isinstance(field, TimestampField):
        ago = as_of - to_days(values)
        return [np.where(ago >= 0, ago, np.nan)]
    if isinstance(field, CategoricalField):
        return [values.str.lower().to_numpy(dtype=object, na_value=np.nan)]
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    if isinstance(field, NumericField) and field.bands:
        labels = np.array([*_band_labels(field.bands), np.nan], dtype=object)
        band = np.searchsorted(np.asarray(field.bands), numbers, side="right")
        return [numbers, labels[np.where(np.isnan(numbers), len(labels) - 1, band)]]
    return [numbers]


def _tag_values(field: TagsField, values: pd.Series) -> list[np.ndarray]:
    present = values.notna().to_numpy()
    tag_sets = [
        {t.strip().lower() for t in v.split(field.separator)} if isinstance(v, str) else set()
        for v in values
    ]
    out = []
    for tags in field.groups.values():
        flags = [np.array([t.lower() in s for s in tag_sets], dtype=float) for t in tags]
        count = np.sum(flags, axis=0) if flags else np.zeros(len(values))
        out += [np.where(present, f, np.nan) for f in (*flags, count)]
    return out


def _event_values(
    cfg: Config, ids: pd.Index, events: pd.DataFrame, as_of: np.ndarray
) -> list[np.ndarray]:
    spec = cfg.events
    assert spec is not None
    n = len(ids)
    lead = ids.get_indexer(events["lead_id"]) if len(events) else np.empty(0, dtype=np.intp)
    age = as_of[lead] - to_days(events["occurred_at"]) if len(events) else np.empty(0)
    seen = (lead >= 0) & (age >= 0)  # the point-in-time cut: nothing after as_of
    lead, age = lead[seen], age[seen]
    type_names = list(spec.types)
    kind = (
        pd.Index(type_names).get_indexer(events["event_type"].to_numpy()[seen])
        if len(events)
        else lead
    )

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(lead[mask], minlength=n).astype(float)

    out = []
    for w in spec.windows_days:
        recent = age < w
        out.append(count(recent))
        out += [count(recent & (kind == k)) for k in range(len(type_names))]
    out += [_per_lead(np.minimum, lead, age, n), _per_lead(np.maximum, lead, age, n)]
    weights = np.array([spec.weights.get(t, 1.0) for t in type_names] + [1.0])[kind]
    decay = np.exp2(-age / spec.half_life_days)
    out.append(np.bincount(lead, weights=weights * decay, minlength=n))
    if spec.hand_raise:
        raised = np.isin(kind, [type_names.index(t) for t in spec.hand_raise])
        out += [np.minimum(count(kind == type_names.index(t)), 1.0) for t in spec.hand_raise]
        out += [count(raised), _per_lead(np.minimum, lead[raised], age[raised], n)]
    return out


def _per_lead(ufunc: np.ufunc, lead: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    start = np.inf if ufunc is np.minimum else -np.inf
    out = np.full(n, start)
    ufunc.at(out, lead, values)
    return np.where(np.isfinite(out), out, np.nan)


def build_features(
    cfg: Config,
    inputs: pd.DataFrame,
    events: pd.DataFrame | None = None,
    as_of: object = None,
) -> pd.DataFrame:
    """Features of each lead as of `as_of` (a timestamp, or a Series of timestamps by lead id).

    `inputs` is the validated inputs frame (index: lead id); `events` the validated events
    (lead_id, event_type, occurred_at). Columns follow `feature_spec(cfg)`: numeric features are
    float64, categorical ones strings with NaN for missing.
    """
    as_of_days = _as_of_days(as_of, inputs.index)
    columns: list[np.ndarray] = []
    for field in (*cfg.features.fit, *cfg.features.intent):
        columns += _field_values(field, inputs[field.column], as_of_days)
    if cfg.events is not None:
        if events is None:
            events = pd.DataFrame({"lead_id": [], "event_type": [], "occurred_at": []})
        columns += _event_values(cfg, inputs.index, events, as_of_days)
    spec = feature_spec(cfg)
    data = {
        info.name: pd.Series(
            col, index=inputs.index, dtype="str" if info.kind == "categorical" else "float64"
        )
        for info, col in zip(spec, columns, strict=True)
    }
    return pd.DataFrame(data, index=inputs.index)
