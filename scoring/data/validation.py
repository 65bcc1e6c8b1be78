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

import numpy as np
import pandas as pd

from scoring.config import BooleanField, Config, ConfigError, NumericField, TimestampField
from scoring.data.arrays import per_distinct
from scoring.data.parse import (
    NAT,
    as_text,
    column_array,
    id_texts,
    lowered_text,
    parse_booleans,
    parse_numbers,
    parse_text,
    parse_timestamps,
    without_placeholders,
)

REJECT_COLUMNS = ["lead_id", "fields", "reason", "row"]


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


# ---------------------------------------------------------------- leads


def _ids(values: np.ndarray, column: str, problems: Problems) -> np.ndarray:
    ids = id_texts(values)  # None when missing or blank
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
    text = per_distinct(columns[spec.column], lowered_text)
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


def check_outcome_values(cfg: Config, raw: pd.DataFrame) -> None:
    """The configured won and lost values must each match some row of the table: a typo (or a
    0/1 written `won: [yes]`) would otherwise turn every lead "open" without a word."""
    spec = cfg.leads.outcome
    if spec is None or raw.empty or spec.column not in raw.columns:
        return
    text = pd.Series(per_distinct(column_array(raw[spec.column]), lowered_text))
    found = set(text.dropna())
    wins = cfg.leads.wins
    if wins is not None and found != {"won", "lost"}:
        which = "no lead has" if "won" not in found else "every lead has"
        raise ConfigError(
            f"leads.wins: {which} a row in table {wins.table!r} (its {wins.lead_id!r} "
            f"compared with {cfg.leads.id!r} of {cfg.leads.table!r}); check leads.wins.lead_id"
        )
    for group, values in (("won", spec.won), ("lost", spec.lost)):
        if not {v.lower() for v in values} & found:
            common = text.value_counts(dropna=False).head(8)
            shown = ", ".join(f"{v!r} ({n:,})" for v, n in common.items())
            raise ConfigError(
                f"leads.outcome.{group}: none of {values[:6]} is a value of column "
                f"{spec.column!r}; its most common values: {shown}"
            )


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


def _number(field: NumericField, columns: Mapping[str, np.ndarray], problems: Problems):
    col = field.column
    parsed = _checked(columns, col, parse_numbers, "a number", problems)
    if field.min is not None:
        with np.errstate(invalid="ignore"):
            low = parsed < field.min
        problems.add(low, col, f"{{value}} is below the minimum {field.min:g}", columns[col])
    return parsed


def _meta(cfg: Config, columns: Mapping[str, np.ndarray], problems: Problems) -> dict:
    spec = cfg.leads
    n = problems.n
    meta: dict[str, np.ndarray] = {}
    for name, column in (("created_at", spec.created_at), ("closed_at", spec.close_date)):
        meta[name] = (
            _checked(columns, column, parse_timestamps, "a date", problems)
            if column
            else np.full(n, NAT)
        )
    meta["label"] = _outcome_label(cfg, columns, problems)
    meta["order"] = (
        _checked(columns, spec.order_by, parse_numbers, "a number", problems)
        if spec.order_by
        else np.full(n, np.nan)
    )
    for name, column in (
        ("revenue", spec.revenue),
        ("opportunity_amount", spec.opportunity_amount),
    ):
        meta[name] = _amount(columns, column, problems) if column else np.full(n, np.nan)
    for stage, column in spec.funnel.items():
        meta[f"{stage}_at"] = _checked(columns, column, parse_timestamps, "a date", problems)
    return meta


def _inputs(cfg: Config, raw: Mapping[str, np.ndarray], problems: Problems) -> dict:
    inputs: dict[str, np.ndarray] = {}
    shared = cfg.leads.missing_values
    for field in (*cfg.features.fit, *cfg.features.intent):
        col = field.column
        placeholders = frozenset(v.strip().lower() for v in (*shared, *field.missing_values))
        columns = {col: without_placeholders(raw[col], placeholders)}
        if isinstance(field, NumericField):
            inputs[col] = _number(field, columns, problems)
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
        raise ConfigError(f"lead rows lack configured columns {missing}")
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
        raise ConfigError(f"lead rows lack configured columns {missing}")
    columns = {c: column_array(raw[c]) for c in dict.fromkeys(raw.columns)}
    arrays, problems, ids = check_leads(cfg, columns)
    return leads_frames(arrays), problems.rejects(raw, ids)


def required_columns(cfg: Config) -> list[str]:
    cols = [cfg.leads.id, cfg.leads.created_at, cfg.leads.close_date, cfg.leads.revenue]
    cols += [cfg.leads.opportunity_amount, cfg.leads.order_by, *cfg.leads.funnel.values()]
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
    ids = id_texts(columns["lead_id"])
    problems.add(np.asarray(pd.isna(ids), dtype=bool), spec.lead_id, "missing lead id")
    raw_when = columns["occurred_at"]
    when, bad = parse_timestamps(raw_when)
    problems.add(bad, spec.timestamp, "{value} is not a date", raw_when)
    problems.add(np.asarray(pd.isna(raw_when), dtype=bool), spec.timestamp, "missing event time")
    missing_type = np.asarray(pd.isna(id_texts(columns["event_type"])), dtype=bool)
    problems.add(missing_type, spec.type, "missing event type")
    to_name = {raw_value: name for name, raws in spec.types.items() for raw_value in raws}
    types = per_distinct(columns["event_type"], lambda v: to_name.get(as_text(v), "other"))
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
