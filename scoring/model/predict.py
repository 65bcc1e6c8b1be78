"""Score leads given as a table of raw fields: the contract of the registered MLflow model.

Columns: the config's lead fields (strings are fine; they are parsed like the database's),
optional `as_of` (ISO time; default now) and optional `events` (JSON list of
{"type": ..., "timestamp": ...}). Rows that fail validation raise with the reasons.
"""

from __future__ import annotations

import json

import pandas as pd

from scoring.config import Config
from scoring.data.load import events_from_records, leads_from_records
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


def _events(cfg: Config, frame: pd.DataFrame, ids: list[str]) -> pd.DataFrame | None:
    if cfg.events is None:
        return None
    spec = cfg.events
    records = []
    for lead_id, raw in zip(ids, frame.get("events", [None] * len(frame)), strict=True):
        for event in json.loads(raw) if isinstance(raw, str) and raw.strip() else []:
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


def score_table(scorer: LeadScorer, frame: pd.DataFrame) -> pd.DataFrame:
    cfg = scorer.config
    records = frame.reindex(columns=input_columns(cfg)).astype(object)
    records = records.where(records.notna(), None).to_dict("records")
    leads, rejects = leads_from_records(cfg, records)
    if len(rejects):
        raise ValueError(
            "invalid leads: " + "; ".join(f"{r.lead_id}: {r.reason}" for r in rejects.itertuples())
        )
    ids = [str(r[cfg.leads.id]).strip() for r in records]
    as_of = None
    if "as_of" in frame.columns and frame["as_of"].notna().any():
        now = pd.Timestamp.now(tz="UTC")
        stamps = pd.to_datetime(frame["as_of"], utc=True, format="mixed").fillna(now)
        as_of = pd.Series(stamps.to_numpy(), index=pd.Index(ids, name="lead_id"))
    features = build_features(cfg, leads.inputs, _events(cfg, frame, ids), as_of)
    scores = scorer.score(features)
    return scores.reset_index(names="lead_id")[OUTPUT_COLUMNS]
