"""Validated leads and events, from the lead database (batch) or from records (real time).

Both paths end in the same validation and feed the same `build_features`, so a lead gets the
same features whichever way it arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config
from scoring.data.arrays import objects
from scoring.data.database import read_events, read_leads
from scoring.data.validation import (
    LeadArrays,
    Leads,
    Problems,
    check_events,
    check_leads,
    check_outcome_values,
    events_frame,
    leads_frames,
    required_columns,
    validate_events,
    validate_leads,
)


def load_leads(cfg: Config, engine: sa.Engine) -> tuple[Leads, pd.DataFrame]:
    """All leads of the database, validated; the second frame holds the rejected rows."""
    raw = next(read_leads(cfg, engine))
    check_outcome_values(cfg, raw)
    return validate_leads(cfg, raw)


def load_events(
    cfg: Config, engine: sa.Engine, lead_ids: list[str] | None = None
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Validated events (None when the config has no event table) and the rejected ones."""
    if cfg.events is None:
        return None, pd.DataFrame()
    return validate_events(cfg, read_events(cfg, engine, lead_ids))


def validated_columns(cfg: Config) -> list[str]:
    """Every lead column validation reads: id, dates, outcome, amounts, order, funnel, features."""
    return required_columns(cfg)


def lead_arrays_from_records(
    cfg: Config, records: Iterable[Mapping[str, object]]
) -> tuple[LeadArrays, Problems, np.ndarray]:
    """The array form of `leads_from_records` (what the real-time endpoint uses): the good leads,
    the problems of each record, and every record's id."""
    columns = validated_columns(cfg)
    rows = list(records)
    known = set(columns)
    for i, row in enumerate(rows):
        unknown = sorted(set(row) - known)
        if unknown:
            raise ValueError(f"lead {i}: unknown fields {unknown}; expected some of {columns}")
    return check_leads(cfg, {c: objects([row.get(c) for row in rows]) for c in columns})


def leads_from_records(
    cfg: Config, records: Iterable[Mapping[str, object]]
) -> tuple[Leads, pd.DataFrame]:
    """Leads given as dicts keyed by the config's column names; absent fields are missing values."""
    rows = list(records)
    leads, problems, ids = lead_arrays_from_records(cfg, rows)
    columns = validated_columns(cfg)
    raw = {c: objects([row.get(c) for row in rows]) for c in columns}
    return leads_frames(leads), problems.rejects(raw, ids)


def event_arrays_from_records(
    cfg: Config, records: Iterable[Mapping[str, object]]
) -> tuple[dict[str, np.ndarray], Problems, np.ndarray]:
    """The array form of `events_from_records`: good events as arrays (lead_id, event_type,
    occurred_at), the problems of each record, and every record's lead id."""
    if cfg.events is None:
        raise ValueError("events: this config has no event table")
    spec = cfg.events
    names = {spec.lead_id: "lead_id", spec.type: "event_type", spec.timestamp: "occurred_at"}
    rows = list(records)
    for i, row in enumerate(rows):
        unknown = sorted(set(row) - set(names))
        if unknown:
            raise ValueError(f"event {i}: unknown fields {unknown}; expected {list(names)}")
    return check_events(
        cfg, {new: objects([row.get(old) for row in rows]) for old, new in names.items()}
    )


def events_from_records(
    cfg: Config, records: Iterable[Mapping[str, object]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events given as dicts keyed by the event table's column names."""
    rows = list(records)
    events, problems, ids = event_arrays_from_records(cfg, rows)
    spec = cfg.events
    assert spec is not None
    names = {spec.lead_id: "lead_id", spec.type: "event_type", spec.timestamp: "occurred_at"}
    raw = {new: objects([row.get(old) for row in rows]) for old, new in names.items()}
    return events_frame(events), problems.rejects(raw, ids)
