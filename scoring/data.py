"""Validated leads and events, from the lead database (batch) or from records (real time).

Both paths end in the same validation and feed the same `build_features`, so a lead gets the
same features whichever way it arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd
import sqlalchemy as sa

from scoring.config import Config
from scoring.database import read_events, read_leads
from scoring.validation import Leads, validate_events, validate_leads


def load_leads(cfg: Config, engine: sa.Engine) -> tuple[Leads, pd.DataFrame]:
    """All leads of the database, validated; the second frame holds the rejected rows."""
    raw = next(read_leads(cfg, engine))
    return validate_leads(cfg, raw)


def load_events(
    cfg: Config, engine: sa.Engine, lead_ids: list[str] | None = None
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Validated events (None when the config has no event table) and the rejected ones."""
    if cfg.events is None:
        return None, pd.DataFrame()
    return validate_events(cfg, read_events(cfg, engine, lead_ids))


def _input_columns(cfg: Config) -> list[str]:
    spec = cfg.leads
    cols = [spec.id, spec.created_at, spec.close_date, spec.revenue, spec.opportunity_amount]
    cols += [*spec.funnel.values(), spec.outcome.column if spec.outcome else None]
    cols += [f.column for f in (*cfg.features.fit, *cfg.features.intent)]
    return list(dict.fromkeys(c for c in cols if c))


def leads_from_records(
    cfg: Config, records: Iterable[Mapping[str, object]]
) -> tuple[Leads, pd.DataFrame]:
    """Leads given as dicts keyed by the config's column names; absent fields are missing values."""
    columns = _input_columns(cfg)
    rows = list(records)
    for i, row in enumerate(rows):
        unknown = sorted(set(row) - set(columns))
        if unknown:
            raise ValueError(f"lead {i}: unknown fields {unknown}; expected some of {columns}")
    raw = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)
    return validate_leads(cfg, raw.astype(object))


def events_from_records(
    cfg: Config, records: Iterable[Mapping[str, object]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events given as dicts keyed by the event table's column names."""
    if cfg.events is None:
        raise ValueError("events: this config has no event table")
    spec = cfg.events
    names = {spec.lead_id: "lead_id", spec.type: "event_type", spec.timestamp: "occurred_at"}
    rows = list(records)
    for i, row in enumerate(rows):
        unknown = sorted(set(row) - set(names))
        if unknown:
            raise ValueError(f"event {i}: unknown fields {unknown}; expected {list(names)}")
    raw = pd.DataFrame([{new: row.get(old) for old, new in names.items()} for row in rows])
    if raw.empty:
        raw = pd.DataFrame(columns=list(names.values()))
    return validate_events(cfg, raw.astype(object))
