"""`lead_shadow_scores`: what a source's challenger (`registry.CHALLENGER`) scored in shadow next to
the champion, in batch (`leadscore rescore`) and in real time (the service). The challenger's
scores are stored here only: they never write lead_scores or lead_stage_history and never decide
a stage; `stage` is the one the challenger WOULD give under its own cut-offs.

One row per (lead, model version, origin), upserted: the latest shadow score of a lead by a
version, in batch and in real time apart. It is defined here, below batch and serving (which
both write it) and monitoring (which reads it), as the layers of the runtime require.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from scoring.data.database import ID_LENGTH
from scoring.data.sql import write_rows

SHADOW = "lead_shadow_scores"
ORIGINS = ("batch", "realtime")
SCORE_COLUMNS = ("fit_score", "intent_score", "win_probability", "expected_revenue")
# as lead_scores rounds them (scoring/batch/chunk.py), so a real-time and a batch row compare
ROUNDING = {"fit_score": 1, "intent_score": 1, "win_probability": 6, "expected_revenue": 2}


def define(meta: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        SHADOW,
        meta if meta is not None else sa.MetaData(),
        sa.Column("lead_id", sa.String(ID_LENGTH), primary_key=True),
        sa.Column("model_version", sa.String(40), primary_key=True),
        sa.Column("origin", sa.String(8), primary_key=True),
        sa.Column("scored_at", sa.DateTime, nullable=False),  # when it was scored (UTC)
        sa.Column("as_of", sa.DateTime, nullable=False),  # the features' point in time
        sa.Column("fit_score", sa.Float(precision=53)),
        sa.Column("intent_score", sa.Float(precision=53)),
        sa.Column("win_probability", sa.Float(precision=53), nullable=False),
        sa.Column("expected_revenue", sa.Float(precision=53)),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("grade", sa.String(4)),
        sa.Column("run_id", sa.Integer),  # the rescoring run; null in real time
    )


def create(engine: sa.Engine) -> sa.Table:
    """The table, created when missing."""
    table = define()
    table.create(engine, checkfirst=True)
    return table


def upsert(conn: sa.Connection, table: sa.Table, rows: Mapping[str, Sequence]) -> int:
    """Insert or replace `rows` (one sequence per column) by (lead, version, origin); of rows
    with the same key, the last is kept (one statement may not update a row twice). Returns the
    rows written."""
    keys = list(zip(rows["lead_id"], rows["model_version"], rows["origin"], strict=True))
    last = list({key: i for i, key in enumerate(keys)}.values())
    if len(last) < len(keys):
        rows = {c: [v[i] for i in last] for c, v in rows.items()}
    if not last:
        return 0
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(conn.dialect.name)
    if dialect is None:  # another database: delete, then insert
        for key in keys:
            conn.execute(
                table.delete().where(
                    *(c == v for c, v in zip(table.primary_key.columns, key, strict=True))
                )
            )
        write_rows(conn, table.insert(), rows)
        return len(last)
    stmt = dialect.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={c.name: stmt.excluded[c.name] for c in table.columns if not c.primary_key},
    )
    write_rows(conn, stmt, rows)
    return len(last)
