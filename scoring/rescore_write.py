"""Applying a chunk's result: its scores, stage changes, errors and the run's progress in ONE
transaction, so a run killed at any moment has either all of a chunk or none of it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from scoring.rescore_chunk import ChunkResult
from scoring.rescore_lock import Holder, heartbeat
from scoring.rescore_read import IN_BATCH
from scoring.rescore_runs import Run, finish, record_chunk
from scoring.rescore_tables import Tables


def upsert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """Insert or update by primary key (INSERT ... ON CONFLICT DO UPDATE on SQLite/PostgreSQL;
    delete then insert elsewhere)."""
    if not rows:
        return
    key = [c for c in table.primary_key.columns]
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(conn.dialect.name)
    if dialect is None:
        for i in range(0, len(rows), IN_BATCH):
            batch = rows[i : i + IN_BATCH]
            conn.execute(table.delete().where(key[0].in_([r[key[0].name] for r in batch])))
        conn.execute(table.insert(), rows)
        return
    stmt = dialect.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=key,
        set_={c.name: stmt.excluded[c.name] for c in table.columns if not c.primary_key},
    )
    conn.execute(stmt, rows)


def _replace_errors(conn: sa.Connection, tables: Tables, run: Run, result: ChunkResult) -> None:
    """The table holds current problems: errors of the leads evaluated now are replaced."""
    errors = tables.errors
    ids = list(dict.fromkeys([*result.evaluated_ids, *(e["lead_id"] for e in result.errors)]))
    ids = [i for i in ids if i is not None]
    for i in range(0, len(ids), IN_BATCH):
        conn.execute(errors.delete().where(errors.c.lead_id.in_(ids[i : i + IN_BATCH])))
    if result.index < 0:  # rows without a lead id: those of earlier runs are replaced
        conn.execute(
            errors.delete().where(errors.c.lead_id.is_(None), errors.c.run_id != run.run_id)
        )
    if result.errors:
        conn.execute(errors.insert(), result.errors)


def write_chunk(
    engine: sa.Engine, tables: Tables, run: Run, holder: Holder, result: ChunkResult
) -> None:
    with engine.begin() as conn:
        heartbeat(conn, tables, holder)
        _replace_errors(conn, tables, run, result)
        upsert(conn, tables.scores, result.upserts)
        if result.history:
            conn.execute(tables.history.insert(), result.history)
        record_chunk(conn, tables, run, result.last_key, result.counts)


def write_last(
    engine: sa.Engine, tables: Tables, run: Run, holder: Holder, result: ChunkResult
) -> None:
    """The rows without an id, and the run marked completed, in one transaction."""
    with engine.begin() as conn:
        heartbeat(conn, tables, holder)
        _replace_errors(conn, tables, run, result)
        record_chunk(conn, tables, run, run.last_key, result.counts, chunk=False)
        finish(conn, tables, run, "completed")
