"""The lead rows and events of a Spark rescoring job, read where the data lives: a SQLite or
PostgreSQL database over JDBC, or a folder of Parquet tables (a lakehouse export).

Over JDBC the database runs the single-machine engine's own statements (`lead_query`,
`events_query`): the joins happen where they always do, and PostgreSQL is read in parallel, one
slice of lead ids per task. SQLite stores a type per value, not per column, so each column that
is not TEXT is read as three (its text, integer and real values) and put back together on the
executor: a value reaches validation as Python's sqlite3 gives it to the other engine. Parquet
tables are joined by Spark as `lead_query` joins them.

Every lead row and event gets a `bucket`, a hash of its lead id as text (-1 for none): a
bucket's leads are scored together with their events (scoring/batch/spark/group.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from scoring.config import Config, ConfigError
from scoring.config.source import WINS_COLUMNS
from scoring.data.database import as_stored, connect, events_query, join_label, lead_query

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

INTEGER, REAL = "#int", "#real"  # suffixes of the typed parts of a SQLite column
DRIVERS = {"postgresql": "org.postgresql.Driver", "sqlite": "org.sqlite.JDBC"}
EVENT_NAMES = ("lead_id", "event_type", "occurred_at")


@dataclass(frozen=True)
class Frames:
    """The job's inputs as Spark frames, with their `bucket` column."""

    leads: DataFrame
    columns: tuple[str, ...]  # the lead columns, in `lead_query`'s order
    events: DataFrame | None  # lead_id, event_type, occurred_at
    # columns read in three parts (SQLite): name, name#int, name#real; of leads, of events
    split: frozenset[str] = frozenset()
    event_split: frozenset[str] = frozenset()
    rows: int | None = None  # the leads table's rows, when the database counted them

    def integral(self) -> tuple[frozenset[str], frozenset[str]]:
        """The lead and event columns Spark holds as integers (pandas gets floats with gaps)."""
        from pyspark.sql.types import IntegralType

        def ints(frame: DataFrame | None) -> frozenset[str]:
            fields = frame.schema.fields if frame is not None else []
            return frozenset(f.name for f in fields if isinstance(f.dataType, IntegralType))

        return ints(self.leads), ints(self.events)


def sqlite_affinity(declared: str) -> str:
    """SQLite's type affinity of a declared column type (its documented rules)."""
    kind = declared.upper()
    if "INT" in kind:
        return "integer"
    if any(t in kind for t in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if not kind or "BLOB" in kind:
        return "blob"
    if any(t in kind for t in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


# ---------------------------------------------------------------- JDBC


@dataclass(frozen=True)
class Jdbc:
    """A database read over JDBC; `properties` hold the credentials (never logged or kept)."""

    url: str
    backend: str
    properties: dict[str, str]


def jdbc_of(url: sa.URL) -> Jdbc:
    from scoring.batch.spark.session import jdbc_jar

    backend = url.get_backend_name()
    jdbc_jar(backend)  # refuses a backend without a driver
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ConfigError("--db: the spark engine needs a SQLite file, not an in-memory one")
        path = Path(url.database).resolve()
        return Jdbc(f"jdbc:sqlite:{path}", backend, {"driver": DRIVERS[backend]})
    host = url.host or "localhost"
    where = f"{host}:{url.port}" if url.port else host
    props = {"driver": DRIVERS[backend]}
    if url.username:
        props["user"] = url.username
    if url.password:
        props["password"] = str(url.password)
    return Jdbc(f"jdbc:postgresql://{where}/{url.database or ''}", backend, props)


def _sqlite_parts(select: sa.Select) -> tuple[sa.Select, frozenset[str]]:
    """`select` with each column that is not TEXT as three: its text (name), integer (name#int)
    and real (name#real) values, exactly one of them set."""
    parts: list[sa.ColumnElement] = []
    split: set[str] = set()
    for column in select.selected_columns:
        declared = str(getattr(column, "type", "") or "")
        if sqlite_affinity(declared) == "text":
            parts.append(sa.cast(column, sa.Text).label(column.key))
            continue
        split.add(column.key)
        kind = sa.func.typeof(column)
        parts += [
            sa.case((kind.in_(["integer", "real"]), None), else_=sa.cast(column, sa.Text)).label(
                column.key
            ),
            sa.case((kind == "integer", column)).label(column.key + INTEGER),
            sa.case((kind == "real", column)).label(column.key + REAL),
        ]
    return select.with_only_columns(*parts), frozenset(split)


def _sqlite_schema(select: sa.Select, split: frozenset[str]) -> str:
    """JDBC `customSchema`: text parts as STRING, the typed ones as BIGINT and DOUBLE (SQLite's
    driver would read DATETIME as a date and FLOAT as a 32-bit float)."""
    fields = []
    for column in select.selected_columns:
        name = column.key
        if name.endswith(INTEGER) and name[: -len(INTEGER)] in split:
            kind = "BIGINT"
        elif name.endswith(REAL) and name[: -len(REAL)] in split:
            kind = "DOUBLE"
        else:
            kind = "STRING"
        fields.append(f"`{name.replace('`', '``')}` {kind}")
    return ", ".join(fields)


ROWID = "leadscore_rowid"


def _jdbc_frame(
    spark: SparkSession, jdbc: Jdbc, engine: sa.Engine, select: sa.Select, table: str, key: str
) -> tuple[DataFrame, frozenset[str]]:
    """The rows of `select` (reading `table`) run by the database itself, by one task per core:
    PostgreSQL in slices of the hash of the column `key`, SQLite in ranges of the table's
    rowid (its b-tree: each task reads only its range)."""
    slices = max(spark.sparkContext.defaultParallelism, 1)
    quote = engine.dialect.identifier_preparer.quote
    split: frozenset[str] = frozenset()
    props = dict(jdbc.properties)
    select = select.order_by(None)  # an ordered subquery is materialised whole by each task
    if jdbc.backend == "sqlite":
        select, split = _sqlite_parts(select)
        props["customSchema"] = _sqlite_schema(select, split)
        predicates = _rowid_ranges(engine, table, slices)
        if len(predicates) > 1:
            rowid = sa.literal_column(f"{quote(table)}.rowid").label(ROWID)
            select = select.add_columns(rowid)
    else:
        hashed = f"(hashtext(CAST({quote(key)} AS text)) & 2147483647) % {slices}"
        predicates = [f"{hashed} = {i}" for i in range(slices)]
        predicates[0] += f" OR {quote(key)} IS NULL"
    sql = _literal_sql(select.subquery("leadscore_rows").select(), engine.dialect)
    frame = spark.read.jdbc(
        jdbc.url, f"({sql}) AS leadscore_part", predicates=predicates, properties=props
    )
    return (frame.drop(ROWID) if ROWID in frame.columns else frame), split


def _rowid_ranges(engine: sa.Engine, table: str, slices: int) -> list[str]:
    """Predicates cutting `table`'s rowids into `slices` ranges of about equal width; one
    that takes every row for a view or a table without rowids."""
    rowid = sa.literal_column("rowid")
    with engine.connect() as conn:
        kind = conn.scalar(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :n"),
            {"n": table},
        )
        if kind is None or "WITHOUT ROWID" in kind.upper():
            return ["1 = 1"]
        lo, hi = conn.execute(
            sa.select(sa.func.min(rowid), sa.func.max(rowid)).select_from(sa.table(table))
        ).one()
    if lo is None:
        return ["1 = 1"]
    step = -(-(hi - lo + 1) // slices)
    return [f"{ROWID} >= {a} AND {ROWID} < {a + step}" for a in range(lo, hi + 1, step)]


def _literal_sql(select: sa.Select, dialect: sa.Dialect) -> str:
    """`select` as the dialect's SQL with its values written in (JDBC takes text, not bound
    parameters); identifiers are quoted by the dialect, the values are the project's own."""
    return str(select.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


# ---------------------------------------------------------------- Parquet


class ParquetTables:
    """A folder of Parquet tables: `name/` (a dataset folder) or `name.parquet`."""

    def __init__(self, spark: SparkSession, folder: str) -> None:
        self.spark, self.folder = spark, folder.rstrip("/")

    def __call__(self, name: str, key: str) -> DataFrame:
        for path in (f"{self.folder}/{name}", f"{self.folder}/{name}.parquet"):
            if "://" in path or Path(path).exists():
                try:
                    return self.spark.read.parquet(path)
                except Exception as exc:  # AnalysisException: not there, not Parquet
                    if "://" not in path:
                        raise ConfigError(f"{key}: {path} is not Parquet ({exc})") from None
        raise ConfigError(
            f"{key}: no Parquet table {name!r} in {self.folder} (expected {name}/ or "
            f"{name}.parquet)"
        )


def _column(frame: DataFrame, name: str, key: str, table: str) -> str:
    if name not in frame.columns:
        raise ConfigError(f"{key}: column {name!r} is not in table {table!r} ({frame.columns})")
    return name


def _parquet_leads(cfg: Config, tables: ParquetTables) -> tuple[DataFrame, tuple[str, ...]]:
    """The leads table with its joins and wins, as `lead_query` builds them in SQL."""
    from pyspark.sql import functions as F

    frame = tables(cfg.leads.table, "leads.table")
    selected: dict[str, str] = {c: c for c in frame.columns}  # label -> column of `frame`
    for i, join in enumerate(cfg.leads.joins):
        key = f"leads.joins[{i}]"
        other = tables(join.table, f"{key}.table")
        for right in join.keys.values():
            _column(other, right, f"{key}.keys", join.table)
        inner = {c: f"__join{i}__{c}" for c in other.columns}
        other = other.select(*(F.col(f"`{c}`").alias(n) for c, n in inner.items()))
        cond = None
        for left, right in join.keys.items():
            if left not in selected:
                raise ConfigError(
                    f"{key}.keys: column {left!r} is not available ({list(selected)})"
                )
            part = F.col(f"`{selected[left]}`") == F.col(f"`{inner[right]}`")
            cond = part if cond is None else cond & part
        frame = frame.join(other, cond, "left")
        wanted = join.columns or [c for c in inner if c not in join.keys.values()]
        for name in wanted:
            label = join_label(key, join, name, selected)
            if name not in inner:
                raise ConfigError(
                    f"{key}.columns: column {name!r} is not in table {join.table!r} ({list(inner)})"
                )
            selected[label] = inner[name]
    if cfg.leads.wins is not None:
        frame = _parquet_wins(cfg, tables, frame, selected)
    for name in _required(cfg):
        if name not in selected:
            raise ConfigError(f"column {name!r} is not available (columns: {list(selected)})")
    columns = tuple(selected)
    return frame.select(*(F.col(f"`{c}`").alias(label) for label, c in selected.items())), columns


def _parquet_wins(
    cfg: Config, tables: ParquetTables, frame: DataFrame, selected: dict[str, str]
) -> DataFrame:
    from pyspark.sql import functions as F

    spec = cfg.leads.wins
    assert spec is not None
    wins = tables(spec.table, "leads.wins.table")
    lead = F.col(f"`{_column(wins, spec.lead_id, 'leads.wins.lead_id', spec.table)}`")
    parts = []
    if spec.won_at:
        won_at = _column(wins, spec.won_at, "leads.wins.won_at", spec.table)
        parts.append(F.min(F.col(f"`{won_at}`")).alias("__wins_won_at"))
    if spec.amount:
        amount = _column(wins, spec.amount, "leads.wins.amount", spec.table)
        parts.append(F.sum(F.col(f"`{amount}`")).alias("__wins_amount"))
    grouped = wins.groupBy(lead.cast("string").alias("__wins_lead"))
    per_lead = grouped.agg(*parts) if parts else grouped.agg(F.count(F.lit(1)).alias("__n"))
    own = F.col(f"`{selected[cfg.leads.id]}`").cast("string")
    frame = frame.join(per_lead, own == F.col("__wins_lead"), "left")
    frame = frame.withColumn(
        "__wins_won", F.when(F.col("__wins_lead").isNotNull(), "won").otherwise("lost")
    )
    selected[WINS_COLUMNS["won"]] = "__wins_won"
    if spec.won_at:
        selected[WINS_COLUMNS["won_at"]] = "__wins_won_at"
    if spec.amount:
        selected[WINS_COLUMNS["amount"]] = "__wins_amount"
    return frame


def _required(cfg: Config) -> list[str]:
    spec = cfg.leads
    names = [spec.id, spec.created_at, spec.revenue, spec.opportunity_amount, spec.close_date]
    names += [spec.outcome.column if spec.outcome else None, *spec.funnel.values()]
    names += [f.column for f in (*cfg.features.fit, *cfg.features.intent)]
    return [n for n in names if n]


def _parquet_events(cfg: Config, tables: ParquetTables) -> DataFrame:
    from pyspark.sql import functions as F

    spec = cfg.events
    assert spec is not None
    frame = tables(spec.table, "events.table")
    picked = [
        (_column(frame, spec.lead_id, "events.lead_id", spec.table), "lead_id"),
        (_column(frame, spec.type, "events.type", spec.table), "event_type"),
        (_column(frame, spec.timestamp, "events.timestamp", spec.table), "occurred_at"),
    ]
    return frame.select(*(F.col(f"`{c}`").alias(n) for c, n in picked))


# ---------------------------------------------------------------- both


def _text(frame: DataFrame, name: str, split: frozenset[str]) -> Column:
    """A column's values as text, as `id_text` writes a lead id: stripped, a whole number
    without decimals, null when missing or blank."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType, IntegralType

    def real(c: Column) -> Column:
        whole = c == F.floor(c)
        return F.when(whole, c.cast("decimal(38,0)").cast("string")).otherwise(c.cast("string"))

    col = F.col(f"`{name}`")
    if name in split:
        texts = [
            col,
            F.col(f"`{name}{INTEGER}`").cast("string"),
            real(F.col(f"`{name}{REAL}`")),
        ]
        value = F.coalesce(*texts)
    else:
        kind = frame.schema[name].dataType
        if isinstance(kind, DoubleType | FloatType):
            value = real(col)
        elif isinstance(kind, IntegralType):
            value = col.cast("string")
        else:
            value = col.cast("string")
    value = F.trim(value)
    return F.when(value == "", None).otherwise(value)


def bucketed(frame: DataFrame, id_name: str, split: frozenset[str], buckets: int) -> DataFrame:
    """`frame` with `bucket`: its lead id's hash modulo `buckets`, -1 without an id."""
    from pyspark.sql import functions as F

    key = _text(frame, id_name, split)
    bucket = F.when(key.isNull(), F.lit(-1)).otherwise(F.pmod(F.xxhash64(key), F.lit(buckets)))
    return frame.withColumn("bucket", bucket.cast("int"))


def _times(frame: DataFrame, name: str, split: frozenset[str]) -> Column:
    """A column's values as timestamps (text parsed; null where not a date)."""
    from pyspark.sql import functions as F

    col = F.col(f"`{name}`")
    if name in split or dict(frame.dtypes)[name] == "string":
        return F.try_to_timestamp(col)
    return col.cast("timestamp")


def changed_since(cfg: Config, frames: Frames, since: datetime) -> Frames:
    """Only the leads with a date of theirs (created, a funnel stage, closed) or an event after
    `since`, and their events: the leads an incremental run must look at when inputs change by
    new dates and activity (a field edited in place is seen by a run without --since)."""
    from pyspark.sql import functions as F

    leads, events = frames.leads, frames.events
    moment = F.lit(since).cast("timestamp")
    dates = [cfg.leads.created_at, *cfg.leads.funnel.values(), cfg.leads.close_date]
    cond = F.lit(False)
    for name in dict.fromkeys(d for d in dates if d):
        cond = cond | F.coalesce(_times(leads, name, frames.split) > moment, F.lit(False))
    ids = _text(leads, cfg.leads.id, frames.split)
    recent = leads.where(cond).select(ids.alias("key"))
    if events is not None:
        lead_key = _text(events, "lead_id", frames.event_split)
        active = events.where(_times(events, "occurred_at", frames.event_split) > moment)
        recent = recent.union(active.select(lead_key.alias("key")))
    keys = recent.where(F.col("key").isNotNull()).distinct()
    picked = leads.join(keys, ids == keys["key"], "left_semi")
    if events is not None:
        key = _text(events, "lead_id", frames.event_split)
        events = events.join(keys, key == keys["key"], "left_semi")
    return Frames(picked, frames.columns, events, frames.split, frames.event_split)


JDBC_BACKENDS = {"sqlite", "postgresql", "mysql", "mariadb", "mssql", "oracle"}


def read_frames(spark: SparkSession, cfg: Config, where: str) -> Frames:
    """The lead rows and events of `cfg` from `where`: a database's SQLAlchemy URL (read over
    JDBC) or a folder of Parquet tables (a path or a Hadoop URI: s3a://, abfss://, dbfs:/)."""
    try:
        backend = sa.engine.make_url(where).get_backend_name()
    except sa.exc.ArgumentError:
        backend = None
    if backend in JDBC_BACKENDS:
        return _jdbc(spark, cfg, where)
    tables = ParquetTables(spark, where)
    leads, columns = _parquet_leads(cfg, tables)
    events = _parquet_events(cfg, tables) if cfg.events is not None else None
    return Frames(leads, columns, events)


def _jdbc(spark: SparkSession, cfg: Config, url: str) -> Frames:
    engine = connect(url)
    try:
        jdbc = jdbc_of(engine.url)
        query = lead_query(cfg, engine)
        select = as_stored(query.select)
        leads, split = _jdbc_frame(spark, jdbc, engine, select, cfg.leads.table, cfg.leads.id)
        with engine.connect() as conn:  # the database counts; Spark would read every row
            table = query.select.get_final_froms()[0]
            rows = conn.scalar(sa.select(sa.func.count()).select_from(table))
        events, event_split = None, frozenset[str]()
        if cfg.events is not None:
            select = as_stored(events_query(cfg, engine))
            table = cfg.events.table  # its lead id column is labelled lead_id in the select
            events, event_split = _jdbc_frame(spark, jdbc, engine, select, table, "lead_id")
    finally:
        engine.dispose()
    return Frames(leads, query.columns, events, split, event_split, rows)
