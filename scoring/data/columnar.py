"""Columnar (Arrow) reads of event rows from a SQLite file, through the ADBC SQLite driver.

Events are most of what a full rescoring run reads (about 20 rows a lead): the DBAPI cursor
builds three Python objects a row, this reads them into Arrow buffers in C, about four times
faster. The arrays it returns are the ones the DBAPI path gives (`columns` of its rows): text
as `str` objects (one object per distinct value), missing values as None, and times as
datetime64[us] (NaT when missing) when every time has the plain ISO form, which
`scoring.validation.parse_timestamps` takes as the times it would have parsed from the text.

It answers only what it can answer exactly; otherwise None, and the caller reads the DBAPI
way: a value stored as anything but text or null (ADBC would turn a number or a blob into text
of its own, 1.5 into "1.500000e+00"), a time column typed int64 by a first batch of nulls, a
database locked past the timeout. Times not in the plain ISO form (an offset, another format,
no such day) come as their text, for validation to parse or report, and so do all the times of
a read holding an event without a lead id (the error table keeps its raw row as read).

A reader belongs to one rescoring worker process, for the life of that process. ADBC links its
own copy of SQLite, and two copies in one process do not see each other's file locks: when the
process's last `sqlite3` connection to the file closes, that copy may delete the WAL files the
other still maps. A pool worker keeps its SQLAlchemy connection open until it exits; the parent
process, which opens and disposes engines, reads the DBAPI way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from scoring.data.arrays import objects
from scoring.data.database import EVENT_COLUMNS, EventColumns
from scoring.data.parse import id_text
from scoring.data.sql import compiled_sql

try:
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # optional: the DBAPI path reads everything
    adbc = None

BUSY_MS = 120_000  # wait for a writer's lock as long as rescoring's SQLite engine does
# the time form both Arrow's cast and pandas' ISO 8601 parser read to the same microsecond
PLAIN_TIME = r"^\d{4}-\d{2}-\d{2}[ T]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?$"
_SQLITE = sqlite.dialect()
_ID, _TYPE, _TIME = (EVENT_COLUMNS.index(c) for c in ("lead_id", "event_type", "occurred_at"))


class EventReader:
    """An autocommit ADBC connection to one SQLite file."""

    def __init__(self, path: str) -> None:
        self.connection = adbc.connect(path, autocommit=True)
        with self.connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_MS}")

    def close(self) -> None:
        self.connection.close()

    def read(self, queries: Sequence[sa.Select]) -> dict[str, np.ndarray] | None:
        """The rows of `queries` (columns lead_id, event_type, occurred_at; results
        concatenated) as one array per column, or None when they cannot be read exactly."""
        try:
            tables = [self._fetch(q) for q in queries]
        except (adbc.Error, OSError):  # locked past the timeout (the DBAPI path reports it),
            return None  # or a column typed int64 by a first batch of nulls, text later
        if not tables or any(t is None for t in tables):
            return None
        table = pa.concat_tables(tables, promote_options="permissive")
        ids, distinct_ids = _texts(table.column(_ID))
        times = table.column(_TIME)
        blank = table.column(_ID).null_count or any(id_text(v) is None for v in distinct_ids)
        return {
            "lead_id": ids,
            "event_type": _texts(table.column(_TYPE))[0],
            "occurred_at": _texts(times)[0] if blank else _times(times),
        }

    def _fetch(self, query: sa.Select) -> pa.Table | None:
        """The query's rows, or None when a value is stored as anything but text or null, or a
        column does not come as text."""
        plain = sa.and_(*(sa.func.typeof(c).in_(("text", "null")) for c in query.selected_columns))
        sql, params = compiled_sql(query.add_columns(sa.case((plain, 1), else_=0)), _SQLITE)
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
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


def event_reader(engine: sa.Engine, events: EventColumns | None) -> EventReader | None:
    """A reader of the event table for a pool worker, or None: not a SQLite file, the driver not
    installed, or an id or type column declared as a number (its values would be numbers, and
    every read would end on the DBAPI path anyway)."""
    url = engine.url
    if adbc is None or events is None or url.get_backend_name() != "sqlite" or url.query:
        return None
    if url.database in (None, "", ":memory:"):
        return None
    numeric = (sa.Integer, sa.Numeric)
    if isinstance(events.lead_id.type, numeric) or isinstance(events.type.type, numeric):
        return None
    return EventReader(url.database)


def _texts(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Text as `str` objects, one per distinct value, None where missing; and those values."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    values = encoded.dictionary.to_pylist()
    codes = encoded.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)
    return objects([*values, None], len(values) + 1)[codes], values


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
    return _texts(column)[0]
