"""Running Core statements fast: reads straight from the DBAPI cursor, typed executemany writes,
staging tables and IN lists. Identifiers are SQLAlchemy objects; values are bound parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import pandas as pd
import sqlalchemy as sa

from scoring.data.bulk import copy_frame, execute_many, uses_copy

T = TypeVar("T")


def fetch_rows(conn: sa.Connection, statement: sa.Select) -> list[tuple]:
    """Rows of a Core select as plain tuples straight from the DBAPI cursor.

    The statement is compiled by the dialect (identifiers quoted, values bound as parameters);
    skipping SQLAlchemy's per-row result processing reads a few times faster, so values come as
    the driver gives them (SQLite: text timestamps; PostgreSQL: datetime objects).
    """
    sql, params = compiled_sql(statement, conn.dialect)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def compiled_sql(statement: sa.Select, dialect: sa.Dialect) -> tuple[str, tuple | dict]:
    """A Core select as the dialect's SQL text (IN lists expanded) and its bound parameters,
    for a DBAPI cursor."""
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params  # built anew on each access
    if compiled.positional:
        return str(compiled), tuple(params[name] for name in compiled.positiontup)
    return str(compiled), params


# Below this many rows COPY's frame and Arrow set-up cost more than the inserts (a /feedback
# request of one item: 1.25 ms of 4.4 ms on PostgreSQL).
COPY_MIN_ROWS = 64


def write_rows(conn: sa.Connection, statement: sa.Insert, values: Mapping[str, Sequence]) -> None:
    """Many rows for a Core insert (or upsert) into `statement.table`, given as one sequence of
    values per column: on PostgreSQL (psycopg), from COPY_MIN_ROWS rows, COPY straight into the
    table for a plain insert, else into a temporary table and then the statement (an upsert)
    as one INSERT ... SELECT from it; otherwise the DBAPI cursor's executemany. Statements are
    compiled by the dialect (identifiers quoted), values converted by the column types' bind
    processors (once per distinct value when values repeat: they are hashable). Skipping
    SQLAlchemy's per-row parameter handling writes several times faster."""
    names = list(values)
    if not names or not len(values[names[0]]):
        return
    if uses_copy(conn.engine) and len(values[names[0]]) >= COPY_MIN_ROWS:
        if statement.compare(statement.table.insert()):
            copy_frame(conn, statement.table, pd.DataFrame(dict(values)))
            return
        staged = staged_rows(conn, statement.table, values)
        conn.execute(statement.from_select(names, sa.select(*staged.c)))
        staged.drop(conn)
        return
    table = statement.table
    execute_many(
        conn, statement, {name: _bound(conn.dialect, table.c[name], values[name]) for name in names}
    )


def _bound(dialect: sa.Dialect, column: sa.Column, values: Sequence) -> Sequence:
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return values
    distinct = set(values)
    if 4 * len(distinct) > len(values):
        return list(map(process, values))
    done = {v: process(v) for v in distinct}  # e.g. a run's time, the same on every row
    return [done[v] for v in values]


def staged_rows(conn: sa.Connection, like: sa.Table, values: Mapping[str, Sequence]) -> sa.Table:
    """A temporary table holding `values` (one sequence per column of `like`), for one statement
    to join many rows at once: filled by COPY on PostgreSQL. The caller drops it; a rolled back
    transaction does too."""
    staged = sa.Table(
        f"{like.name}_rows",
        sa.MetaData(),
        *(sa.Column(name, like.c[name].type) for name in values),
        prefixes=["TEMPORARY"],
    )
    staged.create(conn)
    write_rows(conn, staged.insert(), values)
    return staged


IN_BATCH = 2_000  # values per IN (...) list


def in_lists(column: sa.ColumnElement, values: Sequence) -> list[sa.ColumnElement]:
    """`column IN (...)` clauses covering `values`, IN_BATCH values each."""
    return [column.in_(values[i : i + IN_BATCH]) for i in range(0, len(values), IN_BATCH)]


def racing_on_keys(engine: sa.Engine, work: Callable[[sa.Connection, bool], T]) -> T:
    """`work(conn, again)` in a transaction of its own, run once more (`again` True) when it
    fails on a unique key: two writers racing on one new key, the loser's second try sees it."""
    for again in (False, True):
        try:
            with engine.begin() as conn:
                return work(conn, again)
        except sa.exc.IntegrityError:
            if again:
                raise
    raise AssertionError("unreachable")
