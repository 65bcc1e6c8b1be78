"""Score leads given as a table of raw fields: the contract of the registered MLflow model.

Columns: the config's lead fields, optional `as_of` (a time; default now) and optional `events`
(a JSON list of {"type": ..., "timestamp": ...}, or that list itself). A field may hold strings
(parsed like the database's) or typed values: numbers, booleans, pandas timestamps (naive is
UTC), None / NaN / NaT for missing; a lead scores the same either way. Rows that fail validation
raise with the reasons.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from scoring.config import BooleanField, Config, NumericField, TimestampField
from scoring.data.load import events_from_records, leads_from_records
from scoring.data.parse import id_text
from scoring.features import build_features
from scoring.model.scorer import LeadScorer

OUTPUT_COLUMNS = [
    "lead_id",
    "fit_score",
    "intent_score",
    "win_probability",
    "expected_revenue",
    "stage",
    "grade",
]


def input_columns(cfg: Config) -> list[str]:
    """Lead fields a caller sends: the id and every configured feature column."""
    cols = [cfg.leads.id, *(f.column for f in (*cfg.features.fit, *cfg.features.intent))]
    return list(dict.fromkeys(cols))


def _yes_no(value: object, field: BooleanField) -> object:
    """A boolean as the field's own first true / false spelling (a config may accept only
    "ja" / "nein"); anything else as it is."""
    if isinstance(value, bool | np.bool_):
        return field.true_values[0] if value else field.false_values[0]
    return value


def _text(value: object) -> object:
    """A whole number in a text field (a category code, from a float column that has gaps) as
    its digits, the way the export writes it: 7.0 is "7"; anything else as it is."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return f"{value:.0f}"
    return value


def lead_records(cfg: Config, frame: pd.DataFrame) -> list[dict[str, object]]:
    """The frame's lead fields as records for validation: missing values (None, NaN, NaT, NA) as
    None, booleans of yes/no fields and whole numbers of text fields as the text they stand for,
    every other value as it is (validation parses strings and typed values alike)."""
    table = frame.reindex(columns=input_columns(cfg)).astype(object)
    for field in (*cfg.features.fit, *cfg.features.intent):
        column = table[field.column]
        if isinstance(field, BooleanField):
            table[field.column] = column.map(lambda v, f=field: _yes_no(v, f), na_action="ignore")
        elif not isinstance(field, NumericField | TimestampField):
            table[field.column] = column.map(_text, na_action="ignore")
    table = table.astype(object)  # map may have made a column numeric again
    return table.where(table.notna(), None).to_dict("records")


def _event_list(raw: object) -> list[dict]:
    if isinstance(raw, str):
        return json.loads(raw) if raw.strip() else []
    return list(raw) if isinstance(raw, list | tuple | np.ndarray) else []


def _events(cfg: Config, frame: pd.DataFrame, ids: list[str | None]) -> pd.DataFrame | None:
    if cfg.events is None:
        return None
    spec = cfg.events
    records = []
    for lead_id, raw in zip(ids, frame.get("events", [None] * len(frame)), strict=True):
        for event in _event_list(raw):
            records.append(
                {
                    spec.lead_id: lead_id,
                    spec.type: event.get("type"),
                    spec.timestamp: event.get("timestamp"),
                }
            )
    events, rejects = events_from_records(cfg, records)
    if len(rejects):
        raise ValueError(f"events: {'; '.join(rejects['reason'])}")
    return events


def _as_of(frame: pd.DataFrame, ids: list[str | None]) -> pd.Series | None:
    """Each lead's scoring time (naive UTC), now where it is missing; None when no row has one."""
    if "as_of" not in frame.columns or not frame["as_of"].notna().any():
        return None
    now = pd.Timestamp.now(tz="UTC")
    stamps = pd.to_datetime(frame["as_of"], utc=True, format="mixed").fillna(now)
    return pd.Series(stamps.to_numpy(), index=pd.Index(ids, name="lead_id"))


def score_table(scorer: LeadScorer, frame: pd.DataFrame) -> pd.DataFrame:
    cfg = scorer.config
    records = lead_records(cfg, frame)
    leads, rejects = leads_from_records(cfg, records)
    if len(rejects):
        raise ValueError(
            "invalid leads: " + "; ".join(f"{r.lead_id}: {r.reason}" for r in rejects.itertuples())
        )
    ids = [id_text(r[cfg.leads.id]) for r in records]
    features = build_features(cfg, leads.inputs, _events(cfg, frame, ids), _as_of(frame, ids))
    scores = scorer.score(features)
    return scores.reset_index(names="lead_id")[OUTPUT_COLUMNS]
