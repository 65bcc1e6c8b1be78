"""The CRM's own record of sales activity (`feedback.crm`: a table of calls, emails and
decisions) copied into lead_feedback: `leadscore feedback sync`, and every rescoring run. The CRM
is the truth for its rows: one edited there is updated here, under the same id. Only rows new or
edited since the last sync are checked and written (`crm_rows`); the others count as already
stored."""

from __future__ import annotations

import hashlib
from datetime import datetime

import numpy as np
import sqlalchemy as sa

from scoring.config import Config, ConfigError
from scoring.config.feedback import REASON_KINDS, CrmFeedbackSpec
from scoring.data.parse import id_texts, parse_timestamps
from scoring.data.sql import fetch_rows
from scoring.feedback import crm_rows, table
from scoring.feedback.intake import Intake, take
from scoring.feedback.records import DECISIONS

PREFIX = "crm:"


def sync_crm(cfg: Config, engine: sa.Engine, now: datetime) -> Intake | None:
    """Copy the CRM's activity rows into lead_feedback (None: the config maps no CRM table)."""
    spec = cfg.feedback.crm
    if spec is None:
        return None
    activities = _table(spec, engine)
    kinds = {raw.strip().lower(): kind for kind, raws in spec.types.items() for raw in raws}
    columns = {key: activities.c[name] for key, name in _columns(spec).items() if name is not None}
    typed = sa.func.lower(sa.func.trim(columns["type"]))
    select = sa.select(*(c.label(k) for k, c in columns.items())).where(typed.in_(list(kinds)))
    tables = table.create(engine)
    id_at = list(columns).index("id") if "id" in columns else None
    with engine.connect() as conn:
        rows = fetch_rows(conn, select)
    batch = crm_rows.new_or_edited(engine, tables, rows, id_at, cfg)
    raw = _feedback([rows[i] for i in batch.fresh], list(columns), kinds)
    done = take(raw, cfg, engine, "crm", f"{spec.table} (feedback.crm)", now)
    stored = np.setdiff1d(np.arange(len(raw)), np.asarray(done.refused_rows, dtype=int))
    crm_rows.remember(engine, tables.crm_rows, batch, stored, [str(raw[i]["id"]) for i in stored])
    done.unchanged = batch.unchanged
    done.rows += batch.unchanged
    done.duplicates += batch.unchanged
    return done


def _columns(spec: CrmFeedbackSpec) -> dict[str, str | None]:
    return {
        "id": spec.id,
        "lead_id": spec.lead_id,
        "type": spec.type,
        "timestamp": spec.timestamp,
        "reason": spec.reason,
        "rating": spec.rating,
        "channel": spec.channel,
    }


def _table(spec: CrmFeedbackSpec, engine: sa.Engine) -> sa.Table:
    try:
        table = sa.Table(spec.table, sa.MetaData(), autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise ConfigError(
            f"feedback.crm.table: table {spec.table!r} is not in the lead database"
        ) from None
    for key, name in _columns(spec).items():
        if name is not None and name not in table.c:
            raise ConfigError(
                f"feedback.crm.{key}: column {name!r} is not in table {spec.table!r} "
                f"(columns: {list(table.c.keys())})"
            )
    return table


def _feedback(rows: list[tuple], names: list[str], kinds: dict[str, str]) -> list[dict]:
    """The activity rows as FeedbackItem fields: each kind with the fields it takes."""
    if not rows:
        return []
    values = {name: np.array([r[i] for r in rows], dtype=object) for i, name in enumerate(names)}
    stamps, bad = parse_timestamps(values["timestamp"])
    leads = id_texts(values["lead_id"])
    ids = id_texts(values["id"]) if "id" in values else None
    out = []
    for i in range(len(rows)):
        kind = kinds[str(values["type"][i]).strip().lower()]
        when = values["timestamp"][i] if bad[i] or np.isnat(stamps[i]) else stamps[i]
        item: dict[str, object] = {
            "lead_id": leads[i],
            "kind": kind,
            "occurred_at": when.astype(datetime) if isinstance(when, np.datetime64) else when,
        }
        given = ids[i] if ids is not None else None
        item["id"] = PREFIX + (given or _digest(item))
        if kind in REASON_KINDS and "reason" in values:
            item["reason"] = values["reason"][i]
        if kind in DECISIONS and "rating" in values:
            item["rating"] = values["rating"][i]
        if kind == "contact_attempt" and "channel" in values:
            item["channel"] = values["channel"][i]
        out.append({k: v for k, v in item.items() if v is not None})
    return out


def _digest(item: dict[str, object]) -> str:
    text = f"{item['lead_id']}|{item['kind']}|{item['occurred_at']}"
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:24]
