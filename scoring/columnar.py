"""Columnar (Arrow) reads of event rows from a SQLite file, through the ADBC SQLite driver.

Events are most of what a full rescoring run reads (about 20 rows a lead): the DBAPI cursor
builds three Python objects a row, this reads them into Arrow buffers in C, about four times
faster. The arrays it returns are the ones the DBAPI path gives (`columns` of its rows): text
as `str` objects (one object per distinct value), missing values as None, and times as
datetime64[us] (NaT when missing) when every time has the plain ISO form, which
`scoring.validation.parse_timestamps` takes as the times it would have parsed from the text.

It answers only what it can answer exactly; otherwise None, and the caller reads the DBAPI
way: not a SQLite file, the driver not installed, a text value stored as anything but text or
null (ADBC would turn a number or a blob into text of its own, 1.5 into "1.500000e+00"), a
locked database. Times not in the plain ISO form (an offset, another format, no such day) come
as their text, for validation to parse or report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa

from scoring.arrays import objects

try:
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # optional: the DBAPI path reads everything
    adbc = None

BUSY_MS = 120_000  # wait for a writer's lock as long as rescoring's SQLite engine does
# the time form both Arrow's cast and pandas' ISO 8601 parser read to the same microsecond
PLAIN_TIME = r"^\d{4}-\d{2}-\d{2}[ T]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?$"
_connections: dict[tuple[int, str], tuple[tuple[int, int], object]] = {}


def _database(engine: sa.Engine) -> str | None:
    url = engine.url
    if adbc is None or url.get_backend_name() != "sqlite" or url.query:
        return None
    return url.database if url.database not in (None, "", ":memory:") else None


def _connection(path: str):
    """One autocommit connection per process and file (a worker pool forks or spawns), opened
    again when the file was replaced (a restored backup): never reads of a deleted file."""
    stat = os.stat(path)
    key, file = (os.getpid(), path), (stat.st_dev, stat.st_ino)
    found = _connections.get(key)
    if found is not None and found[0] == file:
        return found[1]
    if found is not None:
        found[1].close()
    conn = adbc.connect(path, autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
    _connections[key] = (file, conn)
    return conn


def _plain_text(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.typeof(column).in_(("text", "null"))


def read_text_columns(
    engine: sa.Engine, queries: Sequence[sa.Select], time_column: int
) -> list[np.ndarray] | None:
    """The rows of `queries` (same columns, results concatenated) as one array per column, or
    None when they cannot be read exactly this way. Column `time_column` holds times."""
    path = _database(engine)
    if path is None or not queries:
        return None
    try:
        tables = [_fetch(_connection(path), q) for q in queries]
    except (adbc.Error, OSError):  # locked past the timeout (the DBAPI path reports it), a
        return None  # column typed int64 by a first batch of nulls holding text later, no file
    if any(t is None for t in tables):
        return None
    table = pa.concat_tables(tables, promote_options="permissive")
    return [
        _times(column) if i == time_column else _texts(column)
        for i, column in enumerate(table.columns)
    ]


def _fetch(conn, query: sa.Select) -> pa.Table | None:
    """The query's rows, or None when a value is stored as anything but text or null, or a
    column does not come as text."""
    plain = sa.and_(*map(_plain_text, query.selected_columns))
    checked = query.add_columns(sa.case((plain, 1), else_=0))
    compiled = checked.compile(
        dialect=sa.dialects.sqlite.dialect(), compile_kwargs={"render_postcompile": True}
    )
    params = tuple(compiled.params[name] for name in compiled.positiontup)
    with conn.cursor() as cursor:
        cursor.execute(str(compiled), params)
        table = cursor.fetch_arrow_table()
    flags = table.column(table.num_columns - 1)
    if len(flags) and pc.min(flags).as_py() != 1:
        return None
    table = table.drop_columns([table.column_names[-1]])
    for i, field in enumerate(table.schema):
        if table.column(i).null_count == len(table):  # all null: typed int64 by the driver
            table = table.set_column(i, field.name, pa.nulls(len(table), pa.string()))
        elif not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            return None
    return table


def _texts(column: pa.ChunkedArray) -> np.ndarray:
    """Text as `str` objects, one per distinct value, None where missing."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    values = encoded.dictionary.to_pylist()
    values.append(None)
    codes = encoded.indices.fill_null(len(values) - 1).to_numpy(zero_copy_only=False)
    return objects(values, len(values))[codes]


def _times(column: pa.ChunkedArray) -> np.ndarray:
    """datetime64[us] (NaT where missing) when every present time has the plain ISO form and is
    a real date, which Arrow's cast and pandas' ISO 8601 parser read to the same microsecond;
    else the text, for validation to parse or report."""
    combined = column.combine_chunks()
    present = combined.drop_null()
    if not len(present) or pc.all(pc.match_substring_regex(present, PLAIN_TIME)).as_py():
        try:
            return pc.cast(combined, pa.timestamp("us")).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:  # e.g. 2024-02-30
            pass
    return _texts(pa.chunked_array([combined]))
