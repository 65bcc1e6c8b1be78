"""Lead database access through SQLAlchemy: SQLite by default, any SQLAlchemy URL otherwise.

Identifiers come from the config and are only ever used as SQLAlchemy column/table objects
(quoted by the dialect); values are bound parameters. Nothing is interpolated into SQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from scoring.config import Config, ConfigError, hide_url
from scoring.config.source import WINS_COLUMNS, JoinSpec

EVENT_COLUMNS = ("lead_id", "event_type", "occurred_at")
ID_LENGTH = 255  # lead ids in the tables the project writes (scores, feedback)


def connect(url: str, create: bool = True) -> sa.Engine:
    """An engine for `url`; creates the folder of a SQLite file if needed. Without `create` (a
    command that only reads the lead database), a SQLite file that does not exist is an error:
    SQLite would create an empty one, and the folders of a mistyped `--db` with it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not create and not path.is_file():
            raise ConfigError(
                f"source.database (or --db): {hide_url(parsed)} names no SQLite file ({path} "
                "does not exist); check the path, or run `leadscore data import` or "
                "`leadscore generate` first"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url)


@dataclass(frozen=True)
class LeadQuery:
    """The select that assembles raw lead rows (leads table + joins) with checked columns."""

    select: sa.Select
    columns: tuple[str, ...]


def _table(meta: sa.MetaData, engine: sa.Engine, name: str, key: str) -> sa.Table:
    if name not in meta.tables:
        try:
            sa.Table(name, meta, autoload_with=engine)
        except sa.exc.NoSuchTableError:
            known = sa.inspect(engine).get_table_names()
            raise ConfigError(
                f"{key}: table {name!r} does not exist in {hide_url(engine.url)} "
                f"(tables: {known}); run `leadscore data import` or `leadscore generate` first"
            ) from None
    return meta.tables[name]


def _column(table: sa.Table, name: str, key: str) -> sa.Column:
    if name not in table.c:
        raise ConfigError(
            f"{key}: column {name!r} is not in table {table.name!r} (columns: {list(table.c)})"
        )
    return table.c[name]


def lead_query(cfg: Config, engine: sa.Engine) -> LeadQuery:
    """Build the lead select and check every configured column exists."""
    meta = sa.MetaData()
    leads = _table(meta, engine, cfg.leads.table, "leads.table")
    selected: dict[str, sa.ColumnElement] = {c.name: c for c in leads.c}
    source = leads
    for i, join in enumerate(cfg.leads.joins):
        key = f"leads.joins[{i}]"
        other = _table(meta, engine, join.table, f"{key}.table")
        cond = sa.and_(
            *(
                selected_col(selected, left, f"{key}.keys") == _column(other, right, f"{key}.keys")
                for left, right in join.keys.items()
            )
        )
        source = source.outerjoin(other, cond)
        wanted = join.columns or [c.name for c in other.c if c.name not in join.keys.values()]
        for name in wanted:
            label = join_label(key, join, name, selected)
            selected[label] = _column(other, name, f"{key}.columns").label(label)
    if cfg.leads.wins is not None:
        source = _join_wins(cfg, engine, meta, source, selected)
    _check_lead_columns(cfg, selected)
    query = sa.select(*selected.values()).select_from(source).order_by(selected[cfg.leads.id])
    return LeadQuery(query, tuple(selected))


def join_label(key: str, join: JoinSpec, name: str, selected: Collection[str]) -> str:
    """The label a joined column gets (its join's prefix + name), refused when it clashes with
    a column already selected (SQL's lead query and the Spark engine's joins alike)."""
    label = join.prefix + name
    if label in selected:
        raise ConfigError(
            f"{key}: column {label!r} from {join.table!r} clashes with a column already "
            "selected; set `prefix:` or `columns:` on this join"
        )
    return label


def _join_wins(
    cfg: Config,
    engine: sa.Engine,
    meta: sa.MetaData,
    source: sa.FromClause,
    selected: dict[str, sa.ColumnElement],
) -> sa.FromClause:
    """Left-join the wins table, one row per lead id (earliest win date, summed amount), and
    select `wins_won` (won/lost), `wins_won_at` and `wins_amount` from it."""
    spec = cfg.leads.wins
    assert spec is not None
    wins = _table(meta, engine, spec.table, "leads.wins.table")
    lead_id = sa.cast(_column(wins, spec.lead_id, "leads.wins.lead_id"), sa.String)
    parts: list[sa.ColumnElement] = [lead_id.label("lead_id")]
    if spec.won_at:
        parts.append(sa.func.min(_column(wins, spec.won_at, "leads.wins.won_at")).label("won_at"))
    if spec.amount:
        parts.append(sa.func.sum(_column(wins, spec.amount, "leads.wins.amount")).label("amount"))
    per_lead = sa.select(*parts).group_by(lead_id).subquery("wins")
    own_id = selected_col(selected, cfg.leads.id, "leads.id")
    for name in WINS_COLUMNS.values():
        if name in selected:
            raise ConfigError(
                f"leads.wins: the leads table already has a column {name!r}, which leads.wins adds"
            )
    selected[WINS_COLUMNS["won"]] = sa.case(
        (per_lead.c.lead_id.is_not(None), "won"), else_="lost"
    ).label(WINS_COLUMNS["won"])
    for key in ("won_at", "amount"):
        if key in per_lead.c:
            selected[WINS_COLUMNS[key]] = per_lead.c[key].label(WINS_COLUMNS[key])
    return source.outerjoin(per_lead, sa.cast(own_id, sa.String) == per_lead.c.lead_id)


def selected_col(selected: dict[str, sa.ColumnElement], name: str, key: str) -> sa.ColumnElement:
    if name not in selected:
        raise ConfigError(f"{key}: column {name!r} is not available (columns: {list(selected)})")
    return selected[name]


def _check_lead_columns(cfg: Config, selected: dict[str, sa.ColumnElement]) -> None:
    spec = cfg.leads
    required = {
        "leads.id": spec.id,
        "leads.created_at": spec.created_at,
        "leads.revenue": spec.revenue,
        "leads.opportunity_amount": spec.opportunity_amount,
        "leads.close_date": spec.close_date,
        "leads.outcome.column": spec.outcome.column if spec.outcome else None,
    }
    required |= {f"leads.funnel.{stage}": col for stage, col in spec.funnel.items()}
    for group in ("fit", "intent"):
        for i, field in enumerate(getattr(cfg.features, group)):
            required[f"features.{group}[{i}].column"] = field.column
    for key, column in required.items():
        if column:
            selected_col(selected, column, key)


def as_stored(select: sa.Select) -> sa.Select:
    """`select` with its columns read as the driver returns them. A column's declared type must
    not convert values before validation reads them: SQLite keeps ISO text in a column declared
    NUMERIC, and SQLAlchemy's Numeric would turn it into a number (batch rescoring reads the
    driver's values too, scoring/data/sql.py)."""
    raw = sa.types.NullType()
    return select.with_only_columns(
        *(sa.type_coerce(c, raw).label(c.key) for c in select.selected_columns)
    )


def read_leads(
    cfg: Config, engine: sa.Engine, chunk_rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """Raw lead rows as the database holds them, in chunks when `chunk_rows` is set."""
    query = lead_query(cfg, engine)
    select = as_stored(query.select)
    with engine.connect() as conn:
        if chunk_rows is None:
            yield pd.read_sql(select, conn)
            return
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(select)
        for part in result.partitions(chunk_rows):
            yield pd.DataFrame(part, columns=list(query.columns))


def events_query(cfg: Config, engine: sa.Engine, lead_ids: list[str] | None = None) -> sa.Select:
    spec = cfg.events
    if spec is None:
        raise ConfigError("events: this config has no event table")
    table = _table(sa.MetaData(), engine, spec.table, "events.table")
    cols = [
        _column(table, spec.lead_id, "events.lead_id").label("lead_id"),
        _column(table, spec.type, "events.type").label("event_type"),
        _column(table, spec.timestamp, "events.timestamp").label("occurred_at"),
    ]
    query = sa.select(*cols)
    if lead_ids is not None:
        query = query.where(table.c[spec.lead_id].in_(lead_ids))
    return query


def read_events(cfg: Config, engine: sa.Engine, lead_ids: list[str] | None = None) -> pd.DataFrame:
    """Raw events with canonical column names lead_id, event_type, occurred_at."""
    with engine.connect() as conn:
        return pd.read_sql(as_stored(events_query(cfg, engine, lead_ids)), conn)


@dataclass(frozen=True)
class JoinCoverage:
    table: str
    with_key: int
    unmatched: int
    examples: list[str]
    wins: bool = False  # rows of the wins table whose lead id is no lead, not lead keys


def join_coverage(cfg: Config, engine: sa.Engine) -> list[JoinCoverage]:
    """Per join: lead rows whose key is set but finds no row in the joined table."""
    meta = sa.MetaData()
    leads = _table(meta, engine, cfg.leads.table, "leads.table")
    out = []
    for join in cfg.leads.joins:
        other = _table(meta, engine, join.table, "join")
        pairs = [
            (leads.c[left], other.c[right]) for left, right in join.keys.items() if left in leads.c
        ]
        if len(pairs) != len(join.keys):
            continue  # keys from an earlier join: coverage is not a single-table question
        cond = sa.and_(*(lc == rc for lc, rc in pairs))
        has_key = sa.and_(*(lc.is_not(None) for lc, _ in pairs))
        missing = sa.and_(has_key, pairs[0][1].is_(None))
        src = leads.outerjoin(other, cond)
        with engine.connect() as conn:
            with_key = conn.scalar(sa.select(sa.func.count()).select_from(src).where(has_key))
            unmatched = conn.scalar(sa.select(sa.func.count()).select_from(src).where(missing))
            keys = as_stored(sa.select(pairs[0][0])).select_from(src).where(missing)
            examples = conn.scalars(keys.distinct().limit(3)).all()
        out.append(
            JoinCoverage(join.table, with_key or 0, unmatched or 0, [str(e) for e in examples])
        )
    if cfg.leads.wins is not None:
        out.append(_wins_coverage(cfg, engine, meta, leads))
    return out


def _wins_coverage(
    cfg: Config, engine: sa.Engine, meta: sa.MetaData, leads: sa.Table
) -> JoinCoverage:
    """Rows of the wins table whose lead id matches no lead: wins the model never learns from."""
    spec = cfg.leads.wins
    assert spec is not None
    wins = _table(meta, engine, spec.table, "leads.wins.table")
    won_id = sa.cast(_column(wins, spec.lead_id, "leads.wins.lead_id"), sa.String)
    lead_id = sa.cast(_column(leads, cfg.leads.id, "leads.id"), sa.String)
    src = wins.outerjoin(leads, won_id == lead_id)
    missing = sa.and_(won_id.is_not(None), lead_id.is_(None))
    with engine.connect() as conn:
        rows = conn.scalar(sa.select(sa.func.count()).select_from(wins).where(won_id.is_not(None)))
        unmatched = conn.scalar(sa.select(sa.func.count()).select_from(src).where(missing))
        examples = conn.scalars(sa.select(won_id).select_from(src).where(missing).limit(3)).all()
    return JoinCoverage(spec.table, rows or 0, unmatched or 0, [str(e) for e in examples], True)


@dataclass(frozen=True)
class EventColumns:
    """The event table of the config and its three columns, as SQLAlchemy objects."""

    table: sa.Table
    lead_id: sa.Column
    type: sa.Column
    timestamp: sa.Column


def event_columns(cfg: Config, engine: sa.Engine) -> EventColumns:
    spec = cfg.events
    if spec is None:
        raise ConfigError("events: this config has no event table")
    table = _table(sa.MetaData(), engine, spec.table, "events.table")
    return EventColumns(
        table,
        _column(table, spec.lead_id, "events.lead_id"),
        _column(table, spec.type, "events.type"),
        _column(table, spec.timestamp, "events.timestamp"),
    )


def _lookup_columns(cfg: Config, engine: sa.Engine) -> list[tuple[sa.Table, list[sa.Column]]]:
    meta = sa.MetaData()
    leads = _table(meta, engine, cfg.leads.table, "leads.table")
    wanted = [(leads, [_column(leads, cfg.leads.id, "leads.id")])]
    for i, join in enumerate(cfg.leads.joins):
        other = _table(meta, engine, join.table, f"leads.joins[{i}].table")
        wanted.append(
            (other, [_column(other, c, f"leads.joins[{i}].keys") for c in join.keys.values()])
        )
    if cfg.events is not None:
        spec = cfg.events
        events = _table(meta, engine, spec.table, "events.table")
        cols = [(spec.lead_id, "lead_id"), (spec.timestamp, "timestamp"), (spec.type, "type")]
        wanted.append((events, [_column(events, c, f"events.{key}") for c, key in cols]))
    return wanted


def ensure_indexes(cfg: Config, engine: sa.Engine) -> list[str]:
    """Create the indexes batch reads by lead id need, when no index starts with the same column:
    leads by id, joined tables by their keys, events by (lead id, time, type). Returns what was
    created, or the reason it could not be (e.g. a read-only replica); reads work without them,
    only slower."""
    done = []
    inspector = sa.inspect(engine)
    for table, columns in _lookup_columns(cfg, engine):
        first = columns[0].name
        existing = [ix["column_names"] for ix in inspector.get_indexes(table.name)]
        existing.append(inspector.get_pk_constraint(table.name).get("constrained_columns") or [])
        if any(cols and cols[0] == first for cols in existing):
            continue
        digest = hashlib.sha1(
            "\x1f".join([table.name, *(c.name for c in columns)]).encode()
        ).hexdigest()[:12]
        index = sa.Index(f"ix_leadscore_{digest}", *columns)
        try:
            with engine.begin() as conn:
                index.create(conn, checkfirst=True)
            done.append(f"created index on {table.name}({', '.join(c.name for c in columns)})")
        except sa.exc.SQLAlchemyError as exc:
            done.append(f"could not index {table.name}.{first}: {str(exc).splitlines()[0]}")
    return done
