"""Table validation at the boundary: raw rows in, typed rows plus rejected rows (with reasons) out.

Nothing is dropped silently: every row that fails a check comes back in the rejects frame with
the field and the reason, ready for an error table or a 4xx answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.config import BooleanField, Config, NumericField, TimestampField

REJECT_COLUMNS = ["lead_id", "fields", "reason", "row"]


@dataclass(frozen=True)
class Leads:
    """Validated leads, both frames indexed by lead id (str).

    meta: created_at, label (1 won, 0 lost, NaN open), revenue, opportunity_amount, closed_at and
    one `<stage>_at` column per funnel stage. inputs: the configured feature columns, typed.
    """

    meta: pd.DataFrame
    inputs: pd.DataFrame


class _Problems:
    """Collects (row mask, field, reason) and renders one reject row per failed input row."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.fields: list[list[str]] = [[] for _ in range(n)]
        self.reasons: list[list[str]] = [[] for _ in range(n)]

    def add(
        self, mask: np.ndarray, field: str, reason: str, values: pd.Series | None = None
    ) -> None:
        """Record `reason` for the rows in `mask`; `{value}` in it is the row's quoted value."""
        for i in np.flatnonzero(mask):
            self.fields[i].append(field)
            value = "" if values is None else repr(str(values.iloc[i])[:80])
            self.reasons[i].append(reason.replace("{value}", value))

    @property
    def bad(self) -> np.ndarray:
        return np.array([bool(r) for r in self.reasons], dtype=bool)

    def rejects(self, raw: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
        rows = np.flatnonzero(self.bad)
        records = raw.iloc[rows].astype(object).where(raw.iloc[rows].notna(), None)
        return pd.DataFrame(
            {
                "lead_id": [ids.iloc[i] for i in rows],
                "fields": [", ".join(dict.fromkeys(self.fields[i])) for i in rows],
                "reason": ["; ".join(self.reasons[i]) for i in rows],
                "row": [json.dumps(r, default=str) for r in records.to_dict("records")],
            },
            columns=REJECT_COLUMNS,
        )


def _blank(values: pd.Series) -> np.ndarray:
    as_text = values.astype("string").str.strip()
    return (values.isna() | (as_text == "")).to_numpy(dtype=bool)


def parse_timestamps(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Naive UTC timestamps and a mask of values that are present but not dates."""
    blank = _blank(values)
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_convert(None) if values.dt.tz is not None else values
    else:
        text = values.astype("string").where(~blank)
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed").dt.tz_convert(None)
    parsed = parsed.astype("datetime64[us]")
    return parsed, (~blank & parsed.isna().to_numpy())


def parse_numbers(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Floats and a mask of values that are present but not numbers."""
    blank = _blank(values)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        parsed = values.astype("float64")
    else:
        parsed = pd.to_numeric(values.where(~blank), errors="coerce").astype("float64")
    return parsed, (~blank & parsed.isna().to_numpy())


def parse_booleans(values: pd.Series, field: BooleanField) -> tuple[pd.Series, np.ndarray]:
    """1.0 / 0.0 / NaN and a mask of values that are neither a true nor a false value."""
    blank = _blank(values)
    text = values.astype("string").str.strip().str.lower()
    truthy = text.isin([v.lower() for v in field.true_values]).to_numpy(dtype=bool)
    falsy = text.isin([v.lower() for v in field.false_values]).to_numpy(dtype=bool)
    parsed = pd.Series(np.where(truthy, 1.0, np.where(falsy, 0.0, np.nan)), index=values.index)
    return parsed, (~blank & ~truthy & ~falsy)


def parse_text(values: pd.Series) -> pd.Series:
    """Stripped strings, NaN for missing or empty."""
    text = values.astype("string").str.strip()
    return text.where(text != "").astype("str")


def _ids(raw: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    ids = raw[column].astype("string").str.strip()
    if pd.api.types.is_float_dtype(raw[column]):
        ids = raw[column].map(lambda v: f"{v:.0f}" if v == v else None).astype("string")
    missing = (ids.isna() | (ids == "")).to_numpy(dtype=bool)
    problems.add(missing, column, "missing lead id")
    dup = ~missing & ids.duplicated(keep="first").to_numpy(dtype=bool)
    problems.add(dup, column, "lead id {value} appears more than once (kept the first row)", ids)
    return ids


def _outcome_label(cfg: Config, raw: pd.DataFrame, problems: _Problems) -> pd.Series:
    spec = cfg.leads.outcome
    label = pd.Series(np.nan, index=raw.index)
    if spec is None:
        return label
    text = raw[spec.column].astype("string").str.strip().str.lower()
    label[text.isin([v.lower() for v in spec.won]).to_numpy(dtype=bool)] = 1.0
    label[text.isin([v.lower() for v in spec.lost]).to_numpy(dtype=bool)] = 0.0
    if spec.open is not None:
        known = text.isin([v.lower() for v in (*spec.won, *spec.lost, *spec.open)])
        unknown = ~_blank(raw[spec.column]) & ~known.to_numpy(dtype=bool)
        reason = (
            f"{{value}} is not a known outcome (won: {spec.won}, lost: {spec.lost}, "
            f"open: {spec.open})"
        )
        problems.add(unknown, spec.column, reason, raw[spec.column])
    return label


def _checked(raw: pd.DataFrame, column: str, parse, what: str, problems: _Problems) -> pd.Series:
    parsed, bad = parse(raw[column])
    problems.add(bad, column, "{value} is not " + what, raw[column])
    return parsed


def _amount(raw: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    parsed = _checked(raw, column, parse_numbers, "a number", problems)
    problems.add((parsed < 0).to_numpy(dtype=bool), column, "{value} is negative", raw[column])
    return parsed


def _meta(cfg: Config, raw: pd.DataFrame, problems: _Problems) -> pd.DataFrame:
    spec = cfg.leads
    meta = pd.DataFrame(index=raw.index)
    nat = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
    nan = pd.Series(np.nan, index=raw.index)
    for name, column in (("created_at", spec.created_at), ("closed_at", spec.close_date)):
        meta[name] = _checked(raw, column, parse_timestamps, "a date", problems) if column else nat
    meta["label"] = _outcome_label(cfg, raw, problems)
    for name, column in (
        ("revenue", spec.revenue),
        ("opportunity_amount", spec.opportunity_amount),
    ):
        meta[name] = _amount(raw, column, problems) if column else nan
    for stage, column in spec.funnel.items():
        meta[f"{stage}_at"] = _checked(raw, column, parse_timestamps, "a date", problems)
    return meta


def _inputs(cfg: Config, raw: pd.DataFrame, problems: _Problems) -> pd.DataFrame:
    inputs = pd.DataFrame(index=raw.index)
    for field in (*cfg.features.fit, *cfg.features.intent):
        col = field.column
        if isinstance(field, NumericField):
            inputs[col] = _checked(raw, col, parse_numbers, "a number", problems)
        elif isinstance(field, BooleanField):
            inputs[col] = _checked(
                raw, col, lambda v, f=field: parse_booleans(v, f), "a yes/no value", problems
            )
        elif isinstance(field, TimestampField):
            inputs[col] = _checked(raw, col, parse_timestamps, "a date", problems)
        else:
            inputs[col] = parse_text(raw[col])
    return inputs


def validate_leads(cfg: Config, raw: pd.DataFrame) -> tuple[Leads, pd.DataFrame]:
    """Typed, indexed leads and the rejected rows (lead_id, fields, reason, row as JSON)."""
    raw = raw.reset_index(drop=True)
    missing = [c for c in _required_columns(cfg) if c not in raw.columns]
    if missing:
        raise KeyError(f"lead rows lack configured columns {missing}")
    problems = _Problems(len(raw))
    ids = _ids(raw, cfg.leads.id, problems)
    meta, inputs = _meta(cfg, raw, problems), _inputs(cfg, raw, problems)
    good = ~problems.bad
    index = pd.Index(ids[good].astype("str"), name="lead_id")
    leads = Leads(meta[good].set_axis(index), inputs[good].set_axis(index))
    return leads, problems.rejects(raw, ids)


def _required_columns(cfg: Config) -> list[str]:
    cols = [cfg.leads.id, cfg.leads.created_at, cfg.leads.close_date, cfg.leads.revenue]
    cols += [cfg.leads.opportunity_amount, *cfg.leads.funnel.values()]
    cols += [cfg.leads.outcome.column] if cfg.leads.outcome else []
    cols += [f.column for f in (*cfg.features.fit, *cfg.features.intent)]
    return list(dict.fromkeys(c for c in cols if c))


def validate_events(cfg: Config, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events as lead_id, event_type (configured name or "other"), occurred_at; and rejects.

    `raw` has the canonical columns lead_id, event_type, occurred_at.
    """
    if cfg.events is None:
        raise ValueError("this config has no events")
    raw = raw.reset_index(drop=True)
    problems = _Problems(len(raw))
    ids = raw["lead_id"].astype("string").str.strip()
    problems.add(
        (ids.isna() | (ids == "")).to_numpy(dtype=bool), cfg.events.lead_id, "missing lead id"
    )
    when, bad = parse_timestamps(raw["occurred_at"])
    problems.add(bad, cfg.events.timestamp, "{value} is not a date", raw["occurred_at"])
    problems.add(raw["occurred_at"].isna().to_numpy(), cfg.events.timestamp, "missing event time")
    to_name = {raw_value: name for name, raws in cfg.events.types.items() for raw_value in raws}
    types = raw["event_type"].astype("string").str.strip().map(to_name).fillna("other")
    good = ~problems.bad
    events = pd.DataFrame(
        {
            "lead_id": ids[good].astype("str").to_numpy(),
            "event_type": types[good].astype("str").to_numpy(),
            "occurred_at": when[good].to_numpy(),
        }
    )
    return events, problems.rejects(raw, ids)
