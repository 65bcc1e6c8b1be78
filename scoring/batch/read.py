"""Reading the lead database chunk by chunk for rescoring.

Chunks are ranges of lead ids, `lo < id <= hi`, cut by the database itself (a window function
numbers the ids in the database's own order), so comparisons never happen in Python and a
lead id of any type and collation works. All statements are SQLAlchemy Core; identifiers from
the config are table and column objects.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.batch.tables import Tables
from scoring.config import Config
from scoring.data.arrays import objects
from scoring.data.columnar import EventReader
from scoring.data.database import EVENT_COLUMNS, EventColumns, LeadQuery, event_columns, lead_query
from scoring.data.load import validated_columns
from scoring.data.parse import id_text, id_texts, parse_timestamps
from scoring.data.sql import compiled_sql, fetch_rows, in_lists
from scoring.model.predict import OUTPUT_COLUMNS

_NAT_US = np.datetime64("NaT", "us")


@dataclass(frozen=True)
class Chunk:
    index: int
    lo: object | None  # exclusive; None: from the first lead
    hi: object  # inclusive
    rows: int  # lead rows in the range (for progress)


@dataclass(frozen=True)
class Sources:
    """What reading one chunk needs, built once per process."""

    cfg: Config
    leads: LeadQuery
    lead_id: sa.ColumnElement  # the id column of the leads table
    events: EventColumns | None
    id_position: int  # position of the id in a lead row
    used_positions: tuple[int, ...]  # columns validation reads: their values make the input hash
    event_ranges: bool  # events can be selected by the same id range as leads
    columnar: EventReader | None = None  # a pool worker's columnar event reads (SQLite)


def _kind(column: sa.ColumnElement) -> str:
    if isinstance(column.type, sa.String):
        return "text"
    if isinstance(column.type, sa.Integer):
        return "integer"
    return type(column.type).__name__


def sources(cfg: Config, engine: sa.Engine) -> Sources:
    query = lead_query(cfg, engine)
    lead_id = query.select.selected_columns[cfg.leads.id]
    events = event_columns(cfg, engine) if cfg.events is not None else None
    columns = list(query.columns)
    return Sources(
        cfg=cfg,
        leads=query,
        lead_id=lead_id,
        events=events,
        id_position=columns.index(cfg.leads.id),
        used_positions=tuple(columns.index(c) for c in validated_columns(cfg)),
        event_ranges=events is not None and _kind(events.lead_id) == _kind(lead_id),
    )


def _in_range(column: sa.ColumnElement, lo: object | None, hi: object) -> sa.ColumnElement:
    upper = column <= hi
    return upper if lo is None else sa.and_(column > lo, upper)


def count_after(engine: sa.Engine, src: Sources, after: object | None) -> int:
    """Leads with an id after `after` (all of them for None)."""
    query = sa.select(sa.func.count()).select_from(src.lead_id.table)
    query = query.where(src.lead_id.is_not(None) if after is None else src.lead_id > after)
    with engine.connect() as conn:
        return int(conn.scalar(query) or 0)


def chunks(
    engine: sa.Engine, src: Sources, after: object | None, size: int
) -> tuple[list[Chunk], int]:
    """Id ranges of about `size` leads after the id `after`, and the number of leads in them."""
    column = src.lead_id
    numbered = sa.select(
        column.label("id"),
        sa.func.row_number().over(order_by=column).label("rn"),
        sa.func.count().over().label("n"),
    ).where(column.is_not(None))
    if after is not None:
        numbered = numbered.where(column > after)
    sub = numbered.subquery()
    bounds = (
        sa.select(sub.c.id, sub.c.rn)
        .where(sa.or_(sub.c.rn % size == 0, sub.c.rn == sub.c.n))
        .order_by(sub.c.rn)
    )
    with engine.connect() as conn:
        rows = fetch_rows(conn, bounds)
    out: list[Chunk] = []
    lo, seen = after, 0
    for hi, rn in rows:
        if out and hi == out[-1].hi:  # one id repeated more than `size` times
            continue
        out.append(Chunk(len(out), lo, hi, int(rn) - seen))
        lo, seen = hi, int(rn)
    return out, seen


def read_leads(conn: sa.Connection, src: Sources, chunk: Chunk) -> list[tuple]:
    return fetch_rows(conn, src.leads.select.where(_in_range(src.lead_id, chunk.lo, chunk.hi)))


def read_null_id_leads(conn: sa.Connection, src: Sources) -> list[tuple]:
    """Lead rows without an id: no range holds them, so they are read once per run."""
    return fetch_rows(conn, src.leads.select.where(src.lead_id.is_(None)))


def read_null_id_events(conn: sa.Connection, src: Sources) -> dict[str, np.ndarray] | None:
    """Event rows without a lead id: no lead's read holds them, so they are read once per run
    (validation reports them)."""
    if src.events is None:
        return None
    ev = src.events
    query = sa.select(ev.lead_id, ev.type, ev.timestamp).where(ev.lead_id.is_(None))
    return columns(EVENT_COLUMNS, fetch_rows(conn, query))


PAGE = 50_000  # ids per read when listing every lead id
_NAMED_CURSORS = {"psycopg", "psycopg2"}  # drivers whose cursor(name=...) is server-side
_cursor_numbers = itertools.count()


def _id_pages(conn: sa.Connection, query: sa.Select) -> Iterator[np.ndarray]:
    """The first column of `query` as id texts, PAGE rows at a time from a DBAPI cursor (no
    per-row result processing), so listing a million ids holds a page of rows at a time: on
    PostgreSQL a server-side cursor sends each page as it is fetched, and SQLite steps its
    statement as rows are fetched. Other drivers' cursors may hold the whole result."""
    yield np.empty(0, dtype=object)  # np.concatenate needs one
    sql, params = compiled_sql(query, conn.dialect)
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.driver in _NAMED_CURSORS:  # a plain one fetches every row at execute()
        cursor = dbapi.cursor(name=f"leadscore_ids_{next(_cursor_numbers)}")
    else:
        cursor = dbapi.cursor()
    try:
        cursor.execute(sql, params)
        while part := cursor.fetchmany(PAGE):
            yield _id_texts([row[0] for row in part])
    finally:
        cursor.close()


def _id_texts(values: list) -> np.ndarray:
    """`id_texts` of a page of ids; text ids, the usual case, without a call per value."""
    if all(type(v) is str for v in values):
        return objects((v.strip() or None for v in values), len(values))
    return id_texts(objects(values, len(values)))


def _hashes(ids: np.ndarray) -> np.ndarray:
    kept = ids[np.asarray(pd.notna(ids), dtype=bool)].astype(object)
    return pd.util.hash_array(kept) if len(kept) else np.empty(0, np.uint64)


def gone(conn: sa.Connection, src: Sources, stored: sa.Select) -> list[str]:
    """The lead ids `stored` selects (from a rescoring table) that are no longer in the lead
    database. Every lead id is read as validation reads it (`id_text`) and kept as a 64-bit
    hash, 8 bytes a lead: a million leads hold 8 MB. A collision could only leave a gone lead
    unmarked, never mark a live one."""
    live = sa.select(src.lead_id).where(src.lead_id.is_not(None))
    return missing(
        conn, np.unique(np.concatenate([_hashes(p) for p in _id_pages(conn, live)])), stored
    )


def id_hashes(ids: np.ndarray) -> np.ndarray:
    """The distinct 64-bit hashes of lead id texts (`gone`'s, `missing`'s)."""
    return np.unique(_hashes(ids))


def missing(conn: sa.Connection, present: np.ndarray, stored: sa.Select) -> list[str]:
    """The lead ids `stored` selects whose hash is not among the sorted `present` ones."""
    out: list[str] = []
    for page in _id_pages(conn, stored):
        page = page[np.asarray(pd.notna(page), dtype=bool)]
        out += page[~np.isin(_hashes(page), present)].tolist()
    return out


def _event_filter(src: Sources, chunk: Chunk, ids: list[str] | None) -> Iterable[sa.ColumnElement]:
    """Where clauses for the events of a chunk: its id range, or IN batches of `ids`."""
    assert src.events is not None
    if ids is None and src.event_ranges:
        return [_in_range(src.events.lead_id, chunk.lo, chunk.hi)]
    return in_lists(src.events.lead_id, ids)


def event_stats(
    conn: sa.Connection, src: Sources, chunk: Chunk, ids: list[str], as_of: datetime
) -> dict[str, str]:
    """Per lead id: count, first and last time of its events up to `as_of` (and of events
    without a time, which validation reports), as text for the input hash: an event added,
    removed or moved changes it, and so does time passing over an event dated later. One row
    per raw lead id: read through SQLAlchemy, which binds `as_of` in the dialect's date
    format."""
    if src.events is None:
        return {}
    ev = src.events
    rows: list[tuple] = []
    for where in _event_filter(src, chunk, None if src.event_ranges else ids):
        query = (
            sa.select(
                ev.lead_id, sa.func.count(), sa.func.min(ev.timestamp), sa.func.max(ev.timestamp)
            )
            .where(where, sa.or_(ev.timestamp <= as_of, ev.timestamp.is_(None)))
            .group_by(ev.lead_id)
        )
        rows += [(id_text(r[0]), *r[1:]) for r in conn.execute(query).all()]
    rows = [r for r in rows if r[0] is not None]
    if not rows:
        return {}
    stats = columns(("lead", "count", "first", "last"), rows)
    first, last = (parse_timestamps(stats[c])[0] for c in ("first", "last"))
    return _aggregate(stats["lead"], stats["count"], first, last)


def stats_of_events(
    events: Mapping[str, np.ndarray], row_ids: np.ndarray, raw_times: np.ndarray, as_of: datetime
) -> dict[str, str]:
    """`event_stats` computed from the events a full run reads anyway (validated `events`, and
    the lead id text and raw time of every event row read, for the events without a time): no
    second pass over the event table. An event whose time is not a date is left out here, while
    the GROUP BY compares its text with `as_of`: such a lead may be evaluated again by the next
    incremental run, once (its hash then comes from the GROUP BY)."""
    when = events["occurred_at"]
    kept = when <= np.datetime64(as_of, "us")
    untimed = row_ids[np.asarray(pd.isna(raw_times), dtype=bool)]
    untimed = untimed[np.asarray(pd.notna(untimed), dtype=bool)]
    times = np.concatenate([when[kept], np.full(len(untimed), _NAT_US)])
    leads = np.concatenate([events["lead_id"][kept], untimed])
    return _aggregate(leads, np.ones(len(leads), dtype=np.int64), times, times)


def _aggregate(
    leads: np.ndarray, counts: np.ndarray, first: np.ndarray, last: np.ndarray
) -> dict[str, str]:
    """Per lead, the hash text of its event statistics: entries of the same lead (events, or
    raw ids that read as one lead, " L1" and "L1") merged, counts summed, the earliest first
    time and the latest last one (datetime64[us], NaT for none) in ISO to the microsecond."""
    keys, group = _groups(leads)
    if not keys:
        return {}
    earliest = _extreme(np.minimum, group, first, len(keys), np.iinfo(np.int64).max)
    latest = _extreme(np.maximum, group, last, len(keys), np.iinfo(np.int64).min)
    total = np.bincount(group, weights=np.asarray(counts, dtype=float), minlength=len(keys))
    texts = zip(total.astype(np.int64).tolist(), _iso(earliest), _iso(latest), strict=True)
    return {lead: f"{n}\x1f{a}\x1f{b}" for lead, (n, a, b) in zip(keys, texts, strict=True)}


def _extreme(
    ufunc: np.ufunc, group: np.ndarray, times: np.ndarray, n: int, start: int
) -> np.ndarray:
    """Per group, `ufunc` (min or max) of its times that are not NaT; NaT for none."""
    out = np.full(n, start, dtype=np.int64)
    timed = ~np.isnat(times)
    ufunc.at(out, group[timed], times[timed].view(np.int64))
    out[out == start] = np.iinfo(np.int64).min  # NaT
    return out.view("datetime64[us]")


def _iso(times: np.ndarray) -> list[str]:
    texts = np.datetime_as_string(times, unit="us").astype(object)
    texts[np.isnat(times)] = "-"
    return texts.tolist()


def _groups(values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The distinct values (lead id texts) and each value's group index."""
    codes, uniques = pd.factorize(values)
    return uniques.tolist(), np.asarray(codes, dtype=np.intp)


def columns(names: Sequence[str], rows: list[tuple]) -> dict[str, np.ndarray]:
    """Rows as one object array per column, values as the driver gave them."""
    n = len(rows)
    values = zip(*rows, strict=True) if n else [()] * len(names)
    return {name: objects(col, n) for name, col in zip(names, values, strict=True)}


def read_events(
    conn: sa.Connection, src: Sources, chunk: Chunk, ids: list[str] | None
) -> dict[str, np.ndarray]:
    """Raw events (lead_id, event_type, occurred_at) of the chunk, or of `ids` in it."""
    assert src.events is not None
    ev = src.events
    # the order of the (lead id, time, type) index: the feature code's order, backwards
    queries = [
        sa.select(ev.lead_id, ev.type, ev.timestamp)
        .where(where)
        .order_by(ev.lead_id, ev.timestamp, ev.type)
        for where in _event_filter(src, chunk, ids)
    ]
    found = None if src.columnar is None else src.columnar.read(queries)
    if found is not None:
        return found
    rows: list[tuple] = []
    for query in queries:
        rows += fetch_rows(conn, query)
    return columns(EVENT_COLUMNS, rows)


def row_hashes(
    used: tuple[int, ...], rows: list[tuple], keys: list[str | None], stats: dict[str, str]
) -> dict[str, str]:
    """Per lead id, a digest of the fields validation reads (the values at positions `used` of
    every row holding that id, in the database's order) and of the lead's event count and
    first/last event time. `keys` are the rows' ids (`id_text`)."""
    texts: dict[str, list[str]] = {}
    pick = operator.itemgetter(*used) if len(used) > 1 else (lambda row: (row[used[0]],))
    for key, row in zip(keys, rows, strict=True):
        if key is not None:
            texts.setdefault(key, []).append("\x1f".join(map(str, pick(row))))
    digest = hashlib.blake2b
    return {
        key: digest("\x1e".join([*parts, stats.get(key, "")]).encode(), digest_size=16).hexdigest()
        for key, parts in texts.items()
    }


SCORE_COLUMNS = tuple(c for c in OUTPUT_COLUMNS if c != "lead_id")
# the score columns of the model's output contract, plus what an incremental run compares
STORED_COLUMNS = ("lead_id", "model_version", *SCORE_COLUMNS, "input_hash", "next_check_at")


@dataclass(frozen=True)
class Stored:
    """The lead_scores rows of some leads: per column, an array holding one value per row and a
    last one for leads without a row (None, NaN, NaT); `row` is each lead id's position."""

    row: dict[str, int]
    values: dict[str, np.ndarray]

    def aligned(self, ids: Iterable[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Whether each lead has a row, and the columns in the order of `ids`."""
        where = np.fromiter((self.row.get(i, -1) for i in ids), dtype=np.intp)
        return where >= 0, {c: v[where] for c, v in self.values.items()}

    def with_reasons(self, ids: Iterable[str]) -> list[str]:
        """Those of `ids` whose row holds reasons."""
        has = self.values["has_reasons"]  # its last value: no row
        return [i for i in ids if has[self.row.get(i, -1)]]


def read_stored(conn: sa.Connection, tables: Tables, ids: list[str]) -> Stored:
    """The lead_scores rows of `ids`, with `has_reasons` instead of the reasons themselves (see
    read_reasons)."""
    scores = tables.scores
    cols = [scores.c[c] for c in STORED_COLUMNS]
    cols.append(sa.case((scores.c.reasons.is_(None), 0), else_=1).label("has_reasons"))
    cols.append(sa.case((scores.c.deleted_at.is_(None), 0), else_=1).label("deleted"))
    rows: list[tuple] = []
    for where in in_lists(scores.c.lead_id, ids):
        rows += fetch_rows(conn, sa.select(*cols).where(where))
    values = columns([*STORED_COLUMNS, "has_reasons", "deleted"], [*rows, (None,) * len(cols)])
    values["next_check_at"] = parse_timestamps(values["next_check_at"])[0]
    for flag in ("has_reasons", "deleted"):
        values[flag] = values[flag].astype(bool)
    for column in SCORE_COLUMNS:
        if column not in ("stage", "grade"):
            values[column] = pd.to_numeric(values[column], errors="coerce").astype(float)
    return Stored({row[0]: i for i, row in enumerate(rows)}, values)


def read_reasons(conn: sa.Connection, tables: Tables, ids: list[str]) -> dict[str, str]:
    """The stored reasons (JSON text) of `ids`: read only for the leads a run evaluates."""
    scores = tables.scores
    out: dict[str, str] = {}
    for where in in_lists(scores.c.lead_id, ids):
        query = sa.select(scores.c.lead_id, scores.c.reasons).where(
            where, scores.c.reasons.is_not(None)
        )
        out.update(fetch_rows(conn, query))
    return out
