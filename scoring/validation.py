"""Table validation at the boundary: raw rows in, typed rows plus rejected rows (with reasons) out.

Nothing is dropped silently: every row that fails a check comes back in the rejects frame with
the field and the reason, ready for an error table or a 4xx answer.

The checks run on plain column arrays (`check_leads`, `check_events`), so the same code serves a
20k-row table and a single lead posted to the real-time endpoint without per-call pandas cost;
`validate_leads` / `validate_events` wrap them for data frames.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from scoring.arrays import MANY, per_distinct
from scoring.config import BooleanField, Config, NumericField, TimestampField

REJECT_COLUMNS = ["lead_id", "fields", "reason", "row"]
_NAT = np.datetime64("NaT", "us")


@dataclass(frozen=True)
class Leads:
    """Validated leads, both frames indexed by lead id (str).

    meta: created_at, label (1 won, 0 lost, NaN open), revenue, opportunity_amount, closed_at and
    one `<stage>_at` column per funnel stage. inputs: the configured feature columns, typed.
    """

    meta: pd.DataFrame
    inputs: pd.DataFrame


@dataclass(frozen=True)
class LeadArrays:
    """Validated leads as column arrays, good rows only, in input order.

    ids: lead ids (str); meta and inputs: the columns of `Leads.meta` / `Leads.inputs` as numpy
    arrays (floats, datetime64[us], or objects holding str / NaN for text).
    """

    ids: np.ndarray
    meta: dict[str, np.ndarray]
    inputs: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)


class Problems:
    """Collects (row mask, field, reason) and renders one reject row per failed input row."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.fields: dict[int, list[str]] = {}  # failed rows only: most rows are fine
        self.reasons: dict[int, list[str]] = {}

    def add(
        self, mask: np.ndarray, field: str, reason: str, values: np.ndarray | None = None
    ) -> None:
        """Record `reason` for the rows in `mask`; `{value}` in it is the row's quoted value."""
        if not mask.any():
            return
        for i in np.flatnonzero(mask).tolist():
            self.fields.setdefault(i, []).append(field)
            value = "" if values is None else repr(str(values[i])[:80])
            self.reasons.setdefault(i, []).append(reason.replace("{value}", value))

    @property
    def bad(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        out[list(self.reasons)] = True
        return out

    def messages(self) -> list[tuple[int, str, str]]:
        """(row, fields, reason) of every failed row, in row order."""
        return [
            (i, ", ".join(dict.fromkeys(self.fields[i])), "; ".join(self.reasons[i]))
            for i in sorted(self.reasons)
        ]

    def rejects(
        self, raw: pd.DataFrame | Mapping[str, np.ndarray], ids: np.ndarray
    ) -> pd.DataFrame:
        """One row per failed input row: lead id, fields, reason and the raw row as JSON."""
        failed = self.messages()
        if not failed:
            return pd.DataFrame({c: [] for c in REJECT_COLUMNS}, columns=REJECT_COLUMNS)
        rows = [i for i, _, _ in failed]
        if not isinstance(raw, pd.DataFrame):
            raw = pd.DataFrame({c: np.asarray(v, dtype=object) for c, v in raw.items()})
        picked = raw.iloc[rows].astype(object)
        records = picked.where(picked.notna(), None).to_dict("records")
        return pd.DataFrame(
            {
                "lead_id": [ids[i] for i in rows],
                "fields": [f for _, f, _ in failed],
                "reason": [r for _, _, r in failed],
                "row": [json.dumps(r, default=str) for r in records],
            },
            columns=REJECT_COLUMNS,
        )


# ---------------------------------------------------------------- column parsers (arrays)


def column_array(values: pd.Series) -> np.ndarray:
    """A frame column as the array the checks take: numpy dtypes stay, timezone-aware dates
    become naive UTC, extension types (nullable ints, strings) become objects."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(None).to_numpy()
    if isinstance(values.dtype, np.dtype):
        return values.to_numpy()
    if pd.api.types.is_float_dtype(values.dtype) and not pd.api.types.is_extension_array_dtype(
        values.dtype
    ):
        return values.to_numpy()
    return values.to_numpy(dtype=object)


def _as_text(value: object, strip: bool = True) -> str | None:
    """A value as text (what `astype("string")` gives), None when missing."""
    if type(value) is str:
        return value.strip() if strip else value
    if value is None or pd.isna(value):
        return None
    return str(value).strip() if strip else str(value)


def _strings(values: np.ndarray, strip: bool = True) -> np.ndarray:
    """The values as text (objects, stripped when `strip`), None where missing."""
    return per_distinct(values, _as_text if strip else lambda v: _as_text(v, strip=False))


def id_text(value: object) -> str | None:
    """A raw lead id as text: stripped, a whole float without decimals (an id column the driver
    reads as REAL or a frame as float64: 42.0 is lead "42"), None when missing or blank."""
    if isinstance(value, float) and value == value:
        return f"{value:.0f}"
    return _as_text(value) or None


def _id_texts(values: np.ndarray) -> np.ndarray:
    return per_distinct(values, id_text)


def _text(values: np.ndarray) -> np.ndarray:
    """Stripped strings (objects), None where missing: the values as text."""
    return _strings(values)


def _all_none(values: np.ndarray) -> bool:
    return values.dtype == object and all(v is None for v in values.tolist())


def _blank(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fiubmM":
        return np.asarray(pd.isna(values), dtype=bool)
    return np.array([v is None or v == "" for v in _text(values)], dtype=bool)


def _many_strings(values: np.ndarray) -> bool:
    return len(values) >= MANY and pd.api.types.infer_dtype(values, skipna=True) == "string"


def parse_timestamps(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Naive UTC timestamps (datetime64[us]) and a mask of values present but not dates."""
    if values.dtype.kind == "M":
        return values.astype("datetime64[us]"), np.zeros(len(values), dtype=bool)
    if _all_none(values):  # e.g. the history columns of a lead posted in real time
        return np.full(len(values), _NAT), np.zeros(len(values), dtype=bool)
    parsed = np.full(len(values), _NAT)
    rest = np.arange(len(values))
    if _many_strings(values):
        # strict ISO 8601 parses in C, as the per-value format guess below would; what it
        # rejects (blanks, other formats, bad dates) takes that slower way
        iso = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
        parsed = iso.tz_convert(None).as_unit("us").to_numpy().copy()
        rest = np.flatnonzero(np.isnat(parsed))
    present = rest[~np.asarray(pd.isna(values[rest]), dtype=bool)]
    stamps = values[present].tolist()
    if all(type(v) is datetime for v in stamps):  # e.g. PostgreSQL, a JSON request
        parsed[present] = _datetimes(stamps)
    else:
        present = present[~_blank(values[present])]
        text = _strings(values[present], strip=False)
        found = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
        parsed[present] = found.tz_convert(None).as_unit("us").to_numpy()
    bad = np.zeros(len(values), dtype=bool)
    bad[present] = np.isnat(parsed[present])
    return parsed, bad


def _datetimes(stamps: list[datetime]) -> np.ndarray:
    """Datetimes as naive UTC (naive ones are UTC already): what `pd.to_datetime(str(stamp),
    utc=True)` gives, without the string round trip."""
    if len(stamps) < MANY:  # a request's few: a loop costs less than a call into pandas
        return np.array([_naive_utc(v) for v in stamps], dtype="datetime64[us]")
    found = pd.to_datetime(np.asarray(stamps, dtype=object), utc=True)
    return found.tz_convert(None).as_unit("us").to_numpy()


def _naive_utc(stamp: datetime) -> np.datetime64:
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(stamp, "us")


_NUMBERS = ("integer", "floating", "mixed-integer-float", "empty")


def parse_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Floats and a mask of values present but not numbers."""
    if values.dtype.kind in "fiu":
        return values.astype("float64"), np.zeros(len(values), dtype=bool)
    if _all_none(values):
        return np.full(len(values), np.nan), np.zeros(len(values), dtype=bool)
    parsed = np.full(len(values), np.nan)
    if pd.api.types.infer_dtype(values, skipna=True) in _NUMBERS:  # numbers and missing only
        present = ~np.asarray(pd.isna(values), dtype=bool)
        parsed[present] = values[present].astype("float64")
        return parsed, np.zeros(len(values), dtype=bool)
    blank = _blank(values)
    other = []
    for i, v in enumerate(values.tolist()):
        if blank[i]:
            continue
        if isinstance(v, int | float) and not isinstance(v, bool):
            parsed[i] = float(v)
        else:
            other.append(i)
    if other:
        parsed[other] = pd.to_numeric(values[other], errors="coerce").astype("float64")
    return parsed, ~blank & np.isnan(parsed)


def _lowered_text(value: object) -> str | None:
    text = _as_text(value)
    return None if text is None else text.lower()


def parse_booleans(values: np.ndarray, field: BooleanField) -> tuple[np.ndarray, np.ndarray]:
    """1.0 / 0.0 / NaN and a mask of values that are neither a true nor a false value."""
    true_values = {v.lower() for v in field.true_values}
    false_values = {v.lower() for v in field.false_values}
    text = per_distinct(values, _lowered_text)
    truthy = np.array([v in true_values for v in text], dtype=bool)
    falsy = np.array([v in false_values for v in text], dtype=bool)
    parsed = np.where(truthy, 1.0, np.where(falsy, 0.0, np.nan))
    blank = np.array([v is None or v == "" for v in text], dtype=bool)
    return parsed, (~blank & ~truthy & ~falsy)


def parse_text(values: np.ndarray) -> np.ndarray:
    """Stripped strings, NaN for missing or empty (objects)."""
    return per_distinct(values, lambda v: _as_text(v) or np.nan)


# ---------------------------------------------------------------- leads


def _ids(values: np.ndarray, column: str, problems: Problems) -> np.ndarray:
    ids = _id_texts(values)  # None when missing or blank
    missing = np.asarray(pd.isna(ids), dtype=bool)
    problems.add(missing, column, "missing lead id")
    dup = np.zeros(len(ids), dtype=bool)
    dup[~missing] = pd.Series(ids[~missing]).duplicated().to_numpy()
    problems.add(dup, column, "lead id {value} appears more than once (kept the first row)", ids)
    return ids


def _outcome_label(
    cfg: Config, columns: Mapping[str, np.ndarray], problems: Problems
) -> np.ndarray:
    spec = cfg.leads.outcome
    n = problems.n
    if spec is None:
        return np.full(n, np.nan)
    text = per_distinct(columns[spec.column], _lowered_text)
    won = {v.lower() for v in spec.won}
    lost = {v.lower() for v in spec.lost}
    label = np.array([1.0 if v in won else 0.0 if v in lost else np.nan for v in text])
    if spec.open is not None:
        known = won | lost | {v.lower() for v in spec.open}
        unknown = np.array([v is not None and v != "" and v not in known for v in text])
        reason = (
            f"{{value}} is not a known outcome (won: {spec.won}, lost: {spec.lost}, "
            f"open: {spec.open})"
        )
        problems.add(unknown, spec.column, reason, columns[spec.column])
    return label


def _checked(
    columns: Mapping[str, np.ndarray], column: str, parse, what: str, problems: Problems
) -> np.ndarray:
    values = columns[column]
    parsed, bad = parse(values)
    problems.add(bad, column, "{value} is not " + what, values)
    return parsed


def _amount(columns: Mapping[str, np.ndarray], column: str, problems: Problems) -> np.ndarray:
    parsed = _checked(columns, column, parse_numbers, "a number", problems)
    with np.errstate(invalid="ignore"):
        negative = parsed < 0
    problems.add(negative, column, "{value} is negative", columns[column])
    return parsed


def _meta(cfg: Config, columns: Mapping[str, np.ndarray], problems: Problems) -> dict:
    spec = cfg.leads
    n = problems.n
    meta: dict[str, np.ndarray] = {}
    for name, column in (("created_at", spec.created_at), ("closed_at", spec.close_date)):
        meta[name] = (
            _checked(columns, column, parse_timestamps, "a date", problems)
            if column
            else np.full(n, _NAT)
        )
    meta["label"] = _outcome_label(cfg, columns, problems)
    for name, column in (
        ("revenue", spec.revenue),
        ("opportunity_amount", spec.opportunity_amount),
    ):
        meta[name] = _amount(columns, column, problems) if column else np.full(n, np.nan)
    for stage, column in spec.funnel.items():
        meta[f"{stage}_at"] = _checked(columns, column, parse_timestamps, "a date", problems)
    return meta


def _inputs(cfg: Config, columns: Mapping[str, np.ndarray], problems: Problems) -> dict:
    inputs: dict[str, np.ndarray] = {}
    for field in (*cfg.features.fit, *cfg.features.intent):
        col = field.column
        if isinstance(field, NumericField):
            inputs[col] = _checked(columns, col, parse_numbers, "a number", problems)
        elif isinstance(field, BooleanField):
            inputs[col] = _checked(
                columns, col, lambda v, f=field: parse_booleans(v, f), "a yes/no value", problems
            )
        elif isinstance(field, TimestampField):
            inputs[col] = _checked(columns, col, parse_timestamps, "a date", problems)
        else:
            inputs[col] = parse_text(columns[col])
    return inputs


def check_leads(
    cfg: Config, columns: Mapping[str, np.ndarray]
) -> tuple[LeadArrays, Problems, np.ndarray]:
    """The checks of `validate_leads` on column arrays (every configured column present, equal
    lengths): the good rows, the problems of each input row, and every row's id (None if none)."""
    missing = [c for c in required_columns(cfg) if c not in columns]
    if missing:
        raise KeyError(f"lead rows lack configured columns {missing}")
    n = len(columns[cfg.leads.id])
    problems = Problems(n)
    ids = _ids(columns[cfg.leads.id], cfg.leads.id, problems)
    meta, inputs = _meta(cfg, columns, problems), _inputs(cfg, columns, problems)
    good = ~problems.bad
    if good.all():
        arrays = LeadArrays(ids, meta, inputs)
    else:
        arrays = LeadArrays(
            ids[good],
            {k: v[good] for k, v in meta.items()},
            {k: v[good] for k, v in inputs.items()},
        )
    return arrays, problems, ids


def leads_frames(leads: LeadArrays) -> Leads:
    """The data-frame form of validated lead arrays."""
    index = pd.Index(leads.ids, dtype="str", name="lead_id")
    meta = pd.DataFrame(leads.meta, index=index)
    inputs = pd.DataFrame(
        {
            col: pd.Series(v, index=index, dtype="str") if v.dtype == object else v
            for col, v in leads.inputs.items()
        },
        index=index,
    )
    return Leads(meta, inputs)


def validate_leads(cfg: Config, raw: pd.DataFrame) -> tuple[Leads, pd.DataFrame]:
    """Typed, indexed leads and the rejected rows (lead_id, fields, reason, row as JSON)."""
    raw = raw.reset_index(drop=True)
    missing = [c for c in required_columns(cfg) if c not in raw.columns]
    if missing:
        raise KeyError(f"lead rows lack configured columns {missing}")
    columns = {c: column_array(raw[c]) for c in dict.fromkeys(raw.columns)}
    arrays, problems, ids = check_leads(cfg, columns)
    return leads_frames(arrays), problems.rejects(raw, ids)


def required_columns(cfg: Config) -> list[str]:
    cols = [cfg.leads.id, cfg.leads.created_at, cfg.leads.close_date, cfg.leads.revenue]
    cols += [cfg.leads.opportunity_amount, *cfg.leads.funnel.values()]
    cols += [cfg.leads.outcome.column] if cfg.leads.outcome else []
    cols += [f.column for f in (*cfg.features.fit, *cfg.features.intent)]
    return list(dict.fromkeys(c for c in cols if c))


# ---------------------------------------------------------------- events


def check_events(
    cfg: Config, columns: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], Problems, np.ndarray]:
    """The checks of `validate_events` on arrays lead_id, event_type, occurred_at: the good events
    as arrays (lead_id str, event_type configured name or "other", occurred_at datetime64[us]),
    the problems of each input row, and every row's lead id."""
    if cfg.events is None:
        raise ValueError("this config has no events")
    spec = cfg.events
    problems = Problems(len(columns["lead_id"]))
    ids = _id_texts(columns["lead_id"])
    problems.add(np.asarray(pd.isna(ids), dtype=bool), spec.lead_id, "missing lead id")
    raw_when = columns["occurred_at"]
    when, bad = parse_timestamps(raw_when)
    problems.add(bad, spec.timestamp, "{value} is not a date", raw_when)
    problems.add(np.asarray(pd.isna(raw_when), dtype=bool), spec.timestamp, "missing event time")
    to_name = {raw_value: name for name, raws in spec.types.items() for raw_value in raws}
    types = per_distinct(columns["event_type"], lambda v: to_name.get(_as_text(v), "other"))
    good = ~problems.bad
    events = {
        "lead_id": ids[good],
        "event_type": types[good],
        "occurred_at": when[good],
    }
    return events, problems, ids


def events_frame(events: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The data-frame form of validated event arrays."""
    return pd.DataFrame(
        {
            "lead_id": pd.Series(events["lead_id"], dtype="str").to_numpy(),
            "event_type": pd.Series(events["event_type"], dtype="str").to_numpy(),
            "occurred_at": events["occurred_at"],
        }
    )


def validate_events(cfg: Config, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events as lead_id, event_type (configured name or "other"), occurred_at; and rejects.

    `raw` has the canonical columns lead_id, event_type, occurred_at.
    """
    if cfg.events is None:
        raise ValueError("this config has no events")
    raw = raw.reset_index(drop=True)
    columns = {c: column_array(raw[c]) for c in ("lead_id", "event_type", "occurred_at")}
    events, problems, ids = check_events(cfg, columns)
    frame = events_frame(events)
    return frame, problems.rejects(raw, ids)
