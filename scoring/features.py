"""Point-in-time features: f(leads, events, as_of) -> fit features and intent features.

The one feature implementation: training, batch rescoring and the real-time endpoint all call
`build_features`. An event counts only if it happened at or before the lead's `as_of`; a date
field after `as_of` is treated as unknown. Nothing here looks at labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Literal

import numpy as np
import pandas as pd

from scoring.arrays import distinct, lookup, objects, per_distinct
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


@lru_cache(maxsize=256)
def _band_array(bands: tuple[float, ...]) -> np.ndarray:
    """Band labels then NaN (for a missing number), as the object array features index."""
    labels = np.array([*_band_labels(bands), np.nan], dtype=object)
    labels.flags.writeable = False
    return labels


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


_SPECS: dict[int, tuple[Config, tuple[FeatureInfo, ...]]] = {}


def feature_spec(cfg: Config) -> list[FeatureInfo]:
    """All features in output order; depends on the config only, never on data."""
    cached = _SPECS.get(id(cfg))
    if cached is None or cached[0] is not cfg:  # configs are frozen: one spec per object
        fit = [info for f in cfg.features.fit for info in _field_spec(f, "fit")]
        intent = [info for f in cfg.features.intent for info in _field_spec(f, "intent")]
        if len(_SPECS) > 256:
            _SPECS.clear()
        cached = _SPECS[id(cfg)] = (cfg, tuple(fit + intent + _event_spec(cfg)))
    return list(cached[1])


# ---------------------------------------------------------------- values


def to_days(values: pd.Series | np.ndarray) -> np.ndarray:
    """Timestamps -> float days since the epoch (NaN for NaT)."""
    arr = np.asarray(values, dtype="datetime64[us]")
    days = arr.astype("int64") / _US_PER_DAY
    return np.where(np.isnat(arr), np.nan, days)


def _as_of_days(as_of: object, ids: pd.Index | np.ndarray) -> np.ndarray:
    """`as_of` (None = now, a timestamp, a Series by lead id, or a datetime64 array aligned with
    the leads) as float days, one per lead."""
    n = len(ids)
    if isinstance(as_of, np.ndarray) and as_of.dtype.kind == "M":
        values = np.broadcast_to(as_of.astype("datetime64[us]"), (n,))
    else:
        if as_of is None:
            as_of = pd.Timestamp.now(tz="UTC")
        if isinstance(as_of, pd.Series):
            as_of = as_of.reindex(pd.Index(ids))
        stamps = pd.to_datetime(as_of, utc=True)
        stamps = (
            stamps.tz_convert(None)
            if not isinstance(stamps, pd.Series)
            else stamps.dt.tz_convert(None)
        )
        values = np.broadcast_to(np.asarray(stamps, dtype="datetime64[us]"), (n,))
    if np.isnat(values).any():
        raise ValueError("as_of: every lead needs a point in time")
    return to_days(values)


def _missing(values: np.ndarray) -> np.ndarray:
    return np.asarray(pd.isna(values), dtype=bool)


def _title_values(values: np.ndarray) -> list[np.ndarray]:
    uniques, inverse = distinct(values)
    unknown = ("unknown", "unknown")
    pairs = [unknown if pd.isna(u) else normalise_title(u) for u in uniques]
    seniority = objects((p[0] for p in pairs), len(pairs))[inverse]
    department = objects((p[1] for p in pairs), len(pairs))[inverse]
    rank = np.array([SENIORITY_RANK.get(p[0], np.nan) for p in pairs], dtype=float)[inverse]
    rank[_missing(values)] = np.nan
    return [seniority, rank, department]


def _field_values(field: FieldSpec, values: np.ndarray) -> list[np.ndarray]:
    """The features of a field that does not depend on the point in time."""
    if isinstance(field, JobTitleField):
        return _title_values(values)
    if isinstance(field, TagsField):
        return _tag_values(field, values)
    if isinstance(field, CategoricalField):
        return [per_distinct(values, lambda v: v.lower() if isinstance(v, str) else np.nan)]
    numbers = np.asarray(values, dtype=float)
    if isinstance(field, NumericField) and field.bands:
        labels = _band_array(tuple(field.bands))
        band = np.searchsorted(np.asarray(field.bands), numbers, side="right")
        return [numbers, labels[np.where(np.isnan(numbers), len(labels) - 1, band)]]
    return [numbers]


def _days_ago(
    values: np.ndarray, as_of: np.ndarray, known_until: np.datetime64 | None
) -> np.ndarray:
    """Days from a date field to `as_of`; NaN for a date after it or after `known_until`."""
    when = np.asarray(values, dtype="datetime64[us]")
    if known_until is not None:
        when = np.where(when <= known_until, when, np.datetime64("NaT", "us"))
    ago = as_of - to_days(when)
    return np.where(ago >= 0, ago, np.nan)


def _tag_values(field: TagsField, values: np.ndarray) -> list[np.ndarray]:
    present = ~_missing(values)
    uniques, inverse = distinct(values)
    tag_sets = [
        {t.strip().lower() for t in v.split(field.separator)} if isinstance(v, str) else set()
        for v in uniques
    ]
    out = []
    for tags in field.groups.values():
        flags = [np.array([t.lower() in s for s in tag_sets], dtype=float)[inverse] for t in tags]
        count = np.sum(flags, axis=0) if flags else np.zeros(len(values))
        out += [np.where(present, f, np.nan) for f in (*flags, count)]
    return out


def _positions(keys: Sequence[object] | pd.Index, values: np.ndarray) -> np.ndarray:
    """Position of each value in `keys` (-1 when absent)."""
    return lookup(values, {k: i for i, k in enumerate(keys)}, -1, np.intp)


@dataclass(frozen=True)
class _Events:
    """Events resolved against the leads: lead position, position of the configured type (-1
    for other types), time (datetime64[us] and days). Events of other leads or without a time
    are left out: they never count."""

    lead: np.ndarray
    kind: np.ndarray
    when: np.ndarray
    days: np.ndarray

    def subset(self, rows: np.ndarray, n: int) -> _Events:
        """The events of leads `rows` (positions among `n` leads), renumbered like `rows`."""
        renumber = np.full(n, -1, dtype=np.intp)
        renumber[rows] = np.arange(len(rows))
        lead = renumber[self.lead]
        keep = lead >= 0
        return _Events(lead[keep], self.kind[keep], self.when[keep], self.days[keep])


def _resolve_events(
    cfg: Config,
    ids: pd.Index | np.ndarray,
    events: pd.DataFrame | Mapping[str, np.ndarray] | None,
) -> _Events:
    spec = cfg.events
    assert spec is not None
    if events is None or not len(events["lead_id"]):
        none = np.empty(0, dtype=np.intp)
        return _Events(none, none, np.empty(0, dtype="datetime64[us]"), np.empty(0))
    when = np.asarray(events["occurred_at"], dtype="datetime64[us]")
    lead = _positions(ids, np.asarray(events["lead_id"]))
    keep = np.flatnonzero((lead >= 0) & ~np.isnat(when))[::-1]
    lead, when = lead[keep], when[keep]
    kind = _positions(list(spec.types), np.asarray(events["event_type"])[keep])
    days = to_days(when)
    # sorted once for the sums of every point in time (see _event_values); read backwards,
    # events in the order of a (lead, time) index mostly are
    if not _in_order(lead, -days, kind):
        order = np.lexsort((kind, -days, lead))
        lead, kind, when, days = lead[order], kind[order], when[order], days[order]
    return _Events(lead, kind, when, days)


def _event_values(
    cfg: Config, events: _Events, as_of: np.ndarray, known_until: np.datetime64 | None
) -> list[np.ndarray]:
    spec = cfg.events
    assert spec is not None
    n = len(as_of)
    age = as_of[events.lead] - events.days
    seen = age >= 0  # the point-in-time cut: nothing after as_of
    if known_until is not None:
        seen &= events.when <= known_until
    lead, age, kind = events.lead[seen], age[seen], events.kind[seen]
    type_names = list(spec.types)
    # each lead's sums in a fixed order (age, type), not the order the events came in: the same
    # lead gets the same bits from the lead database and from a CRM posting its events newest first
    if not _in_order(lead, age, kind):
        order = np.lexsort((kind, age, lead))
        lead, age, kind = lead[order], age[order], kind[order]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(lead[mask], minlength=n).astype(float)

    out = []
    slots = len(type_names) + 1  # the configured types, then "other"
    cell = lead * slots + np.where(kind < 0, slots - 1, kind)
    for w in spec.windows_days:
        recent = age < w
        per_type = np.bincount(cell[recent], minlength=n * slots).reshape(n, slots)
        per_type = per_type.astype(float).T  # one row per type: contiguous columns below
        out.append(per_type.sum(axis=0))
        out += list(per_type[: len(type_names)])
    out += [_per_lead(np.minimum, lead, age, n), _per_lead(np.maximum, lead, age, n)]
    weights = np.array([spec.weights.get(t, 1.0) for t in type_names] + [1.0])[kind]
    decay = np.exp2(-age / spec.half_life_days)
    out.append(np.bincount(lead, weights=weights * decay, minlength=n))
    if spec.hand_raise:
        hand = np.array([t in spec.hand_raise for t in type_names] + [False])
        raised = hand[kind]  # kind -1 (other types) lands on the final False
        out += [np.minimum(count(kind == type_names.index(t)), 1.0) for t in spec.hand_raise]
        out += [count(raised), _per_lead(np.minimum, lead[raised], age[raised], n)]
    return out


def _in_order(lead: np.ndarray, age: np.ndarray, kind: np.ndarray) -> bool:
    """Whether each lead's events are together and in (age, type) order: the order its sums
    take. Events with equal keys add equal terms, and other leads add to other sums."""
    step = np.diff(lead)
    if (step < 0).any() and (step > 0).any():
        return False
    older = age[1:] < age[:-1]
    tie = (age[1:] == age[:-1]) & (kind[1:] < kind[:-1])
    return not ((step == 0) & (older | tie)).any()


def _per_lead(ufunc: np.ufunc, lead: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    start = np.inf if ufunc is np.minimum else -np.inf
    out = np.full(n, start)
    ufunc.at(out, lead, values)
    return np.where(np.isfinite(out), out, np.nan)


@dataclass(frozen=True)
class Features:
    """The features of a set of leads at any point in time. What does not depend on time (the
    fields other than dates, events resolved to leads and types) is computed once by `build`,
    so batch rescoring projects a lead forward in time without redoing its text work."""

    cfg: Config
    ids: pd.Index | np.ndarray
    fields: list[tuple[FieldSpec, np.ndarray]]  # each configured field and its input values
    fixed: list[list[np.ndarray] | None]  # per field, its features (None: a date, time-bound)
    events: _Events | None

    @classmethod
    def build(
        cls,
        cfg: Config,
        inputs: Mapping[str, np.ndarray],
        ids: pd.Index | np.ndarray,
        events: pd.DataFrame | Mapping[str, np.ndarray] | None = None,
    ) -> Features:
        fields = [(f, np.asarray(inputs[f.column])) for f in _fields(cfg)]
        fixed = [
            None if isinstance(f, TimestampField) else _field_values(f, values)
            for f, values in fields
        ]
        resolved = _resolve_events(cfg, ids, events) if cfg.events is not None else None
        return cls(cfg, ids, fields, fixed, resolved)

    def subset(self, rows: np.ndarray) -> Features:
        """The same, for the leads at positions `rows`."""
        return Features(
            self.cfg,
            np.asarray(self.ids)[rows],
            [(f, values[rows]) for f, values in self.fields],
            [None if fs is None else [v[rows] for v in fs] for fs in self.fixed],
            self.events.subset(rows, len(self.ids)) if self.events else None,
        )

    def at(self, as_of: object = None, known_until: object = None) -> dict[str, np.ndarray]:
        """The features as of `as_of` (see `feature_arrays`); with `known_until`, only what was
        known then counts: later events are left out and later dates are unknown."""
        as_of_days = _as_of_days(as_of, self.ids)
        until = None
        if known_until is not None:
            until = pd.Timestamp(known_until).to_datetime64().astype("datetime64[us]")
        columns: list[np.ndarray] = []
        for (_, values), fixed in zip(self.fields, self.fixed, strict=True):
            columns += [_days_ago(values, as_of_days, until)] if fixed is None else fixed
        if self.events is not None:
            columns += _event_values(self.cfg, self.events, as_of_days, until)
        spec = feature_spec(self.cfg)
        return {info.name: col for info, col in zip(spec, columns, strict=True)}


def _fields(cfg: Config) -> tuple[FieldSpec, ...]:
    return (*cfg.features.fit, *cfg.features.intent)


def feature_arrays(
    cfg: Config,
    inputs: Mapping[str, np.ndarray],
    ids: pd.Index | np.ndarray,
    events: pd.DataFrame | Mapping[str, np.ndarray] | None = None,
    as_of: object = None,
) -> dict[str, np.ndarray]:
    """The features as arrays, by name in `feature_spec(cfg)` order: the computation behind
    `build_features`, on column arrays (`scoring.validation.LeadArrays.inputs`) so that a single
    lead costs microseconds. Numeric features are float64, categorical ones objects (str, NaN).
    `as_of` may also be a datetime64 array aligned with `ids`."""
    return Features.build(cfg, inputs, ids, events).at(as_of)


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
    arrays = {f.column: inputs[f.column].to_numpy() for f in _fields(cfg)}
    columns = feature_arrays(cfg, arrays, inputs.index, events, as_of)
    kinds = {info.name: info.kind for info in feature_spec(cfg)}
    data = {
        name: pd.Series(
            col, index=inputs.index, dtype="str" if kinds[name] == "categorical" else "float64"
        )
        for name, col in columns.items()
    }
    return pd.DataFrame(data, index=inputs.index)
