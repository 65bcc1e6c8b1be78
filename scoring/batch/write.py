"""Applying a chunk's result: its scores, stage changes, errors and the run's progress in ONE
transaction, so a run killed at any moment has either all of a chunk or none of it."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from scoring.batch.chunk import ChunkResult, Columns
from scoring.batch.lock import Holder, heartbeat
from scoring.batch.runs import Run, finish, record_chunk
from scoring.batch.tables import Tables
from scoring.data.sql import in_lists, write_rows


@dataclass(frozen=True)
class Gone:
    """Lead ids no longer in the lead database: of unmarked lead_scores rows, of error rows."""

    scores: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def upsert(conn: sa.Connection, table: sa.Table, rows: Columns) -> None:
    """Insert or update by primary key (INSERT ... ON CONFLICT DO UPDATE on SQLite/PostgreSQL;
    delete then insert elsewhere)."""
    key = [c for c in table.primary_key.columns]
    ids = rows.get(key[0].name)
    if not ids:
        return
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(conn.dialect.name)
    if dialect is None:
        _delete(conn, table, key[0], ids)
        write_rows(conn, table.insert(), rows)
        return
    stmt = dialect.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=key,
        set_={c.name: stmt.excluded[c.name] for c in table.columns if not c.primary_key},
    )
    write_rows(conn, stmt, rows)


def _delete(conn: sa.Connection, table: sa.Table, column: sa.Column, values: list) -> None:
    """Delete the rows whose `column` holds one of `values`."""
    for where in in_lists(column, values):
        conn.execute(table.delete().where(where))


def _replace_errors(conn: sa.Connection, tables: Tables, run: Run, result: ChunkResult) -> None:
    """The table holds current problems: errors of the leads evaluated now are replaced."""
    errors = tables.errors
    ids = list(dict.fromkeys([*result.evaluated_ids, *(e["lead_id"] for e in result.errors)]))
    if conn.scalar(sa.select(errors.c.id).limit(1)) is not None:  # else nothing to replace
        _delete(conn, errors, errors.c.lead_id, [i for i in ids if i is not None])
    if result.index < 0:  # rows without a lead id: those of earlier runs are replaced
        conn.execute(
            errors.delete().where(errors.c.lead_id.is_(None), errors.c.run_id != run.run_id)
        )
    if result.errors:
        write_rows(
            conn, errors.insert(), {c: [e[c] for e in result.errors] for c in result.errors[0]}
        )


def write_chunk(
    engine: sa.Engine, tables: Tables, run: Run, holder: Holder, result: ChunkResult
) -> None:
    with engine.begin() as conn:
        heartbeat(conn, tables, holder)
        _replace_errors(conn, tables, run, result)
        upsert(conn, tables.scores, result.upserts)
        write_rows(conn, tables.history.insert(), result.history)
        record_chunk(conn, tables, run, result.last_key, result.counts)


def _mark_deleted(conn: sa.Connection, tables: Tables, run: Run, gone: Gone) -> None:
    """Score rows of leads no longer in the lead database get `deleted_at` (kept, not deleted:
    their history stays and a CRM sync sees which leads to skip); their error rows, no longer
    current problems, go."""
    scores, errors = tables.scores, tables.errors
    for where in in_lists(scores.c.lead_id, gone.scores):
        conn.execute(
            scores.update()
            .where(where, scores.c.deleted_at.is_(None))
            .values(deleted_at=run.as_of, run_id=run.run_id)
        )
    _delete(conn, errors, errors.c.lead_id, gone.errors)


def write_last(
    engine: sa.Engine,
    tables: Tables,
    run: Run,
    holder: Holder,
    result: ChunkResult,
    gone: Gone = Gone(),
) -> None:
    """The rows without an id, the rows of deleted leads, and the run marked completed, in one
    transaction."""
    with engine.begin() as conn:
        heartbeat(conn, tables, holder)
        _replace_errors(conn, tables, run, result)
        _mark_deleted(conn, tables, run, gone)
        counts = result.counts | {"deleted": len(gone.scores)}
        record_chunk(conn, tables, run, run.last_key, counts, chunk=False)
        finish(conn, tables, run, "completed")
