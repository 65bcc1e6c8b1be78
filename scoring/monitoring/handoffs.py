"""When each lead was handed to sales, and the activity that got it there.

The handoff is a lead's MQL time. When the config has a funnel (`leads.funnel`), the CRM's own
record wins: the column of the funnel stage named `mql` (else the funnel's first stage), and
lead_stage_history is not read at all, so the clocks follow the dates sales sees in its CRM.
Without a funnel, the handoff is the lead's first move up into mql or sql in lead_stage_history,
which batch rescoring writes (the `as_of` of the run that first staged it so). A lead handed
back and forth keeps its first handoff.

The activity that made a lead cross is the latest event (of a type in `events.types`) at or
before its handoff: marketing's delivery clock starts there. It is found in SQL, one grouped
join of the event table with the handoffs, so a million leads and their events never come
through Python. SQLite keeps times as text: when every handoff and event time is text of one
fixed-width ISO form without an offset (one writer stores them all alike), text order is time
order and the join reads the event index up to each handoff; otherwise each time is normalised
first, which costs several times as long (benchmarks/sla.py).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, ConfigError
from scoring.data.database import EventColumns, as_stored, event_columns, lead_query
from scoring.data.parse import id_texts, parse_timestamps
from scoring.data.sql import fetch_rows

HISTORY = "lead_stage_history"  # written by batch rescoring (scoring/batch/tables.py)
HANDED = ("mql", "sql")  # a move into these stages hands the lead to sales
TIME_COLUMNS = ("handed_at", "sal_at", "sql_at")
# SQLite keeps times as text: compare them as UTC text of one form (it reads the ISO forms
# with a T or a space, fractions and offsets); other databases compare their own time types
_SQLITE_TIME = "%Y-%m-%d %H:%M:%f"
_ISO_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?Z?")


def handoff_stage(cfg: Config) -> str | None:
    """The funnel stage whose time is the handoff: `mql`, else the funnel's first stage; None
    without a funnel."""
    funnel = cfg.leads.funnel
    if "mql" in funnel:
        return "mql"
    return next(iter(funnel), None)


def handoff_origin(cfg: Config) -> str:
    """Where the handoff times come from, as a config key or a table name."""
    stage = handoff_stage(cfg)
    return f"leads.funnel.{stage}" if stage else HISTORY


def _history(engine: sa.Engine) -> sa.Table:
    try:
        return sa.Table(HISTORY, sa.MetaData(), autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise ConfigError(
            "leads.funnel: this config has no funnel column for the MQL handoff and the "
            f"database has no {HISTORY} yet; set leads.funnel (e.g. funnel: {{mql: mql_at}}) "
            "or run `leadscore rescore` first"
        ) from None


def handoff_query(cfg: Config, engine: sa.Engine) -> sa.Select:
    """A select of (lead_id, handed_at), the times as stored, one row per handed-over lead (a
    lead may repeat when a join of the leads table repeats it)."""
    stage = handoff_stage(cfg)
    if stage is None:
        history = _history(engine)
        return (
            sa.select(history.c.lead_id, sa.func.min(history.c.changed_at).label("handed_at"))
            .where(history.c.to_stage.in_(HANDED))
            .group_by(history.c.lead_id)
        )
    query = lead_query(cfg, engine)
    columns = query.select.selected_columns
    handed = columns[cfg.leads.funnel[stage]]
    return (
        query.select.with_only_columns(
            columns[cfg.leads.id].label("lead_id"), handed.label("handed_at")
        )
        .where(handed.is_not(None))
        .order_by(None)
    )


def read_columns(engine: sa.Engine, select: sa.Select) -> dict[str, np.ndarray]:
    """The rows of `select` as one object array per selected column, values as the driver gives
    them (straight from its cursor: a million rows in about a second)."""
    names = [c.key for c in select.selected_columns]
    with engine.connect() as conn:
        rows = fetch_rows(conn, select)
    if not rows:
        return {name: np.empty(0, dtype=object) for name in names}
    table = np.empty((len(rows), len(names)), dtype=object)
    table[:] = rows
    return {name: table[:, i].copy() for i, name in enumerate(names)}


def times_of(values: np.ndarray, key: str) -> np.ndarray:
    """Stored times as naive UTC datetime64[us]; values that are no time stop with the config
    key (or table column) that names them."""
    parsed, bad = parse_timestamps(values)
    if bad.any():
        raise ConfigError(f"{key}: {int(bad.sum())} values are not times, e.g. {values[bad][0]!r}")
    return parsed


def _per_lead(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per lead (the earliest of each time), without leads that have none."""
    frame = frame[frame["lead_id"].notna()]
    frame = frame.groupby("lead_id", sort=False, as_index=False).min()
    return frame[frame[list(TIME_COLUMNS)].notna().any(axis=1)].reset_index(drop=True)


def lead_times(cfg: Config, engine: sa.Engine) -> pd.DataFrame:
    """Per lead (`lead_id` as text): `handed_at` (the handoff), `sal_at` and `sql_at` (the
    funnel's `sal` and `sql` columns when it has them), naive UTC, NaT when unknown; leads with
    none of them are left out."""
    stage = handoff_stage(cfg)
    if stage is None:
        found = read_columns(engine, handoff_query(cfg, engine))
        frame = pd.DataFrame({"lead_id": id_texts(found["lead_id"])})
        frame["handed_at"] = times_of(found["handed_at"], f"{HISTORY}.changed_at")
        frame["sal_at"] = frame["sql_at"] = np.datetime64("NaT", "us")
        return _per_lead(frame)
    funnel = cfg.leads.funnel
    wanted = {"handed_at": funnel[stage], "sal_at": funnel.get("sal"), "sql_at": funnel.get("sql")}
    keys = {"handed_at": stage, "sal_at": "sal", "sql_at": "sql"}
    query = lead_query(cfg, engine)
    columns = query.select.selected_columns
    times = {name: columns[column] for name, column in wanted.items() if column}
    select = (
        query.select.with_only_columns(
            columns[cfg.leads.id].label("lead_id"),
            *(column.label(name) for name, column in times.items()),
        )
        .where(sa.or_(*(column.is_not(None) for column in times.values())))
        .order_by(None)
    )
    found = read_columns(engine, as_stored(select))
    frame = pd.DataFrame({"lead_id": id_texts(found["lead_id"])})
    for name in TIME_COLUMNS:
        if name in found:
            frame[name] = times_of(found[name], f"leads.funnel.{keys[name]}")
        else:
            frame[name] = np.datetime64("NaT", "us")
    return _per_lead(frame)


def handoffs(cfg: Config, engine: sa.Engine) -> pd.DataFrame:
    """`lead_id` (text) and `handed_at` (naive UTC) of every lead handed to sales."""
    times = lead_times(cfg, engine)
    times = times[times["handed_at"].notna()]
    return times[["lead_id", "handed_at"]].reset_index(drop=True)


def _stored(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.type_coerce(column, sa.types.NullType())


def _one_text_form(engine: sa.Engine, events: EventColumns, handed: sa.Subquery) -> bool:
    """Whether every handoff and event time is text of one fixed-width ISO form without an
    offset (the form of the first handoff), so that comparing the texts compares the times."""
    with engine.connect() as conn:
        first = conn.execute(
            sa.select(_stored(handed.c.handed_at)).where(handed.c.handed_at.is_not(None)).limit(1)
        ).scalar()
        if not isinstance(first, str) or not _ISO_TEXT.fullmatch(first):
            return False
        shape = re.sub(r"\d", "?", first)
        for column, source in ((handed.c.handed_at, handed), (events.timestamp, events.table)):
            other = sa.select(sa.literal(1)).select_from(source)
            other = other.where(sa.not_(_stored(column).op("GLOB")(shape)))
            if conn.execute(sa.select(sa.exists(other))).scalar():
                return False
    return True


def _comparable(
    engine: sa.Engine, events: EventColumns, handed: sa.Subquery
) -> tuple[sa.ColumnElement, sa.ColumnElement]:
    """The event time and the handoff time, in forms that compare as times."""
    at, handed_at = events.timestamp, handed.c.handed_at
    if engine.dialect.name != "sqlite" or _one_text_form(engine, events, handed):
        return at, handed_at
    return sa.func.strftime(_SQLITE_TIME, at), sa.func.strftime(_SQLITE_TIME, handed_at)


def _numeric(column: sa.ColumnElement) -> bool:
    return isinstance(column.type, sa.Integer | sa.Numeric)


def _same_lead(left: sa.ColumnElement, right: sa.ColumnElement) -> sa.ColumnElement:
    """Ids compared as they are, or as text when one side is a number and the other is not."""
    if _numeric(left) != _numeric(right):
        return sa.cast(left, sa.String) == sa.cast(right, sa.String)
    return left == right


def crossings(cfg: Config, engine: sa.Engine) -> pd.DataFrame:
    """`lead_id` (text) and `crossed_at`: the latest event at or before each lead's handoff (the
    activity that made it cross). Leads without such an event are left out, and so is
    everyone when the config has no events table."""
    if cfg.events is None:
        return pd.DataFrame(
            {"lead_id": pd.Series(dtype=object), "crossed_at": pd.Series(dtype="datetime64[us]")}
        )
    events = event_columns(cfg, engine)
    handed = handoff_query(cfg, engine).subquery("handoff")
    raw_types = [raw for raws in cfg.events.types.values() for raw in raws]
    at, handed_at = _comparable(engine, events, handed)
    query = (
        sa.select(handed.c.lead_id, sa.func.max(at).label("crossed_at"))
        .select_from(handed.join(events.table, _same_lead(events.lead_id, handed.c.lead_id)))
        .where(events.type.in_(raw_types), at <= handed_at)
        .group_by(handed.c.lead_id)
    )
    found = read_columns(engine, as_stored(query))
    frame = pd.DataFrame(
        {
            "lead_id": id_texts(found["lead_id"]),
            "crossed_at": times_of(found["crossed_at"], "events.timestamp"),
        }
    )
    frame = frame[frame["lead_id"].notna() & frame["crossed_at"].notna()]
    return frame.groupby("lead_id", sort=False, as_index=False).max()
