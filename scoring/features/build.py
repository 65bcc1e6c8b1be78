"""Point-in-time features: f(leads, events, as_of) -> fit features and intent features.

The one feature implementation: training, batch rescoring and the real-time endpoint all call
`build_features`. An event counts only if it happened at or before the lead's `as_of`; a date
field after `as_of` is treated as unknown. Nothing here looks at labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.config import (
    CategoricalField,
    Config,
    DatePartField,
    FieldSpec,
    JobTitleField,
    NumericField,
    TagsField,
    TimestampField,
)
from scoring.data.arrays import distinct, objects, per_distinct
from scoring.features.events import Events, event_values, resolve_events
from scoring.features.spec import band_array, feature_spec
from scoring.features.time import as_of_days, to_days
from scoring.features.titles import SENIORITY_RANK, normalise_title


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
        labels = band_array(tuple(field.bands))
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


MONTHS = np.array(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", np.nan],
    dtype=object,
)
WEEKDAYS = np.array(["mon", "tue", "wed", "thu", "fri", "sat", "sun", np.nan], dtype=object)


def _date_parts(
    field: DatePartField, values: np.ndarray, as_of: np.ndarray, known_until: np.datetime64 | None
) -> list[np.ndarray]:
    """The configured parts of a date field; all missing for a date after `as_of`."""
    ago = _days_ago(values, as_of, known_until)
    when = np.asarray(values, dtype="datetime64[us]")
    known = ~np.isnan(ago)
    days = when.astype("datetime64[D]")
    month = (days.astype("datetime64[M]").astype(np.int64) % 12).astype(np.intp)
    weekday = ((days.astype(np.int64) + 3) % 7).astype(np.intp)  # 1970-01-01 was a Thursday
    hour = (when - days).astype("timedelta64[h]").astype(np.int64).astype(float)
    parts = {
        "month": MONTHS[np.where(known, month, 12)],
        "weekday": WEEKDAYS[np.where(known, weekday, 7)],
        "hour": np.where(known, hour, np.nan),
        "days_since": ago,
    }
    return [parts[p] for p in field.parts]


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


@dataclass(frozen=True)
class Features:
    """The features of a set of leads at any point in time. What does not depend on time (the
    fields other than dates, events resolved to leads and types) is computed once by `build`,
    so batch rescoring projects a lead forward in time without redoing its text work."""

    cfg: Config
    ids: pd.Index | np.ndarray
    fields: list[tuple[FieldSpec, np.ndarray]]  # each configured field and its input values
    fixed: list[list[np.ndarray] | None]  # per field, its features (None: a date, time-bound)
    events: Events | None

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
        resolved = resolve_events(cfg, ids, events) if cfg.events is not None else None
        return cls(cfg, ids, fields, fixed, resolved)

    @classmethod
    def of_frame(
        cls, cfg: Config, inputs: pd.DataFrame, events: pd.DataFrame | None = None
    ) -> Features:
        """`build` from the validated inputs frame (index: lead id)."""
        arrays = {f.column: inputs[f.column].to_numpy() for f in _fields(cfg)}
        return cls.build(cfg, arrays, inputs.index, events)

    def subset(self, rows: np.ndarray) -> Features:
        """The same, for the leads at positions `rows` (a lead may come more than once)."""
        return Features(
            self.cfg,
            np.asarray(self.ids)[rows],
            [(f, values[rows]) for f, values in self.fields],
            [None if fs is None else [v[rows] for v in fs] for fs in self.fixed],
            self.events.subset(rows) if self.events else None,
        )

    def at(self, as_of: object = None, known_until: object = None) -> dict[str, np.ndarray]:
        """The features as of `as_of` (see `feature_arrays`); with `known_until`, only what was
        known then counts: later events are left out and later dates are unknown."""
        days = as_of_days(as_of, self.ids)
        until = None
        if known_until is not None:
            until = pd.Timestamp(known_until).to_datetime64().astype("datetime64[us]")
        columns: list[np.ndarray] = []
        for (field, values), fixed in zip(self.fields, self.fixed, strict=True):
            if fixed is not None:
                columns += fixed
            elif isinstance(field, DatePartField):
                columns += _date_parts(field, values, days, until)
            else:
                columns.append(_days_ago(values, days, until))
        if self.events is not None:
            columns += event_values(self.cfg, self.events, days, until)
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
    columns = Features.of_frame(cfg, inputs, events).at(as_of)
    kinds = {info.name: info.kind for info in feature_spec(cfg)}
    data = {
        name: pd.Series(
            col, index=inputs.index, dtype="str" if kinds[name] == "categorical" else "float64"
        )
        for name, col in columns.items()
    }
    return pd.DataFrame(data, index=inputs.index)
