"""Monitoring results kept per run in the lead database (`lead_monitor_runs`), so the report
page and /metrics can show the latest verdict and its trend."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

TABLE = "lead_monitor_runs"


def define(meta: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        TABLE,
        meta or sa.MetaData(),
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("source", sa.String(63), nullable=False, index=True),
        sa.Column("model_version", sa.String(80), nullable=False),
        sa.Column("challenger_version", sa.String(80)),
        sa.Column("checked_at", sa.DateTime, nullable=False),
        sa.Column("as_of", sa.DateTime, nullable=False),
        sa.Column("since", sa.DateTime),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("breaches", sa.Integer, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
    )


def _plain(value: object) -> object:
    """JSON for numpy numbers, NaN (null) and times."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _time(value: object) -> datetime | None:
    return None if value is None else pd.Timestamp(value).to_pydatetime()


def store(engine: sa.Engine, result: dict, checked_at: datetime) -> int:
    """Keep one run's result; its id."""
    table = define()
    table.create(engine, checkfirst=True)
    doc = _plain(result)
    row = {
        "source": result["source"],
        "model_version": result["model_version"],
        "challenger_version": (result.get("challenger") or {}).get("version"),
        "checked_at": checked_at,
        "as_of": _time(result["as_of"]),
        "since": _time(result.get("since")),
        "verdict": result["verdict"],
        "breaches": sum(c["status"] == "breach" for c in result["checks"]),
        "result": json.dumps(doc),
    }
    with engine.begin() as conn:
        return int(conn.execute(sa.insert(table).returning(table.c.id), row).scalar_one())


def _iso(value: object) -> object:
    return value.isoformat(sep="T", timespec="seconds") if isinstance(value, datetime) else value


def history(engine: sa.Engine, source: str | None = None, limit: int = 52) -> list[dict]:
    """The latest `limit` runs (of `source`, or of every source), oldest first: each row's
    columns, times as ISO text, and `result` parsed from its JSON. [] before the first run."""
    if not sa.inspect(engine).has_table(TABLE):
        return []
    table = define()
    query = sa.select(table).order_by(table.c.id.desc()).limit(limit)
    if source is not None:
        query = query.where(table.c.source == source)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return [
        {k: _iso(v) for k, v in row.items()} | {"result": json.loads(row["result"])}
        for row in reversed(rows)
    ]


def latest(engine: sa.Engine) -> list[dict]:
    """The latest result of each source."""
    found: dict[str, dict] = {}
    for row in history(engine, limit=200):
        found[row["source"]] = row["result"]
    return list(found.values())
