"""The funnel report's queries: what each lead row says (source, creation month, stages reached,
outcome, revenue, current score), as SQL expressions over the lead database, and the grouped
queries the report sums.

The leads come from `lead_query` (the config's leads table, joins and wins table), so every config
works; the joins are left out when the report needs none of their columns. ONE `GROUP BY` over
every lead counts the stages reached, sums revenue and scores per cell of (source, month, grade,
score band, outcome value as stored): the cube, small whatever the number of leads, which the
report adds up for any grouping. The outcome is a dimension rather than a sum of conditions so
that each row is read once, cheaply, and its values are told won or lost in Python exactly as
validation does (`scoring.data.parse.lowered_text`). Only the won deals' dates (the sales
cycle), the reject reasons and the lead ids of the leads handed to sales (speed to lead, when
grouped) come out as rows.

A stage is reached when the lead reached it or a later one (mql < sal < sql): from the funnel
column of that name (`leads.funnel.mql` ...) when the config has one, else from the project's
own tables (mql: a move into mql or sql in lead_stage_history; sal: an sdr_accepted row of
lead_feedback; sql: an ae_accepted row), else it is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, ConfigError
from scoring.data.database import lead_query
from scoring.feedback.table import FEEDBACK

STAGES = ("mql", "sal", "sql")
DIMENSIONS = ("source", "month", "grade", "band", "outcome")  # `--by score_band` is `band`
SCORES, HISTORY = "lead_scores", "lead_stage_history"  # batch rescoring's (scoring.batch.tables)
HANDED = ("mql", "sql")  # a move into these stages in lead_stage_history hands the lead over
REASON_KINDS = ("sdr_rejected", "ae_disqualified")
DERIVED = {"mql": HISTORY, "sal": "lead_feedback sdr_accepted", "sql": "lead_feedback ae_accepted"}


@dataclass(frozen=True)
class Facts:
    """SQL expressions over `source` (the leads, their joins, their current score), one row per
    lead row; None where the config or the database does not say."""

    source: sa.FromClause
    lead_id: sa.ColumnElement  # as the config names it
    lead_key: sa.ColumnElement  # as text, to meet the project's tables
    dims: dict[str, sa.ColumnElement]  # of DIMENSIONS: those available
    reached: dict[str, sa.ColumnElement | None]  # stage -> reached it or a later one
    stage_origin: dict[str, str | None]  # stage -> where it is read from (None: unknown)
    outcome: sa.ColumnElement | None  # the outcome column as stored
    revenue: sa.ColumnElement | None
    created: sa.ColumnElement | None
    closed: sa.ColumnElement | None
    win_probability: sa.ColumnElement | None
    bands: list[float] = field(default_factory=list)


def _is_text(column: sa.ColumnElement) -> bool:
    return isinstance(column.type, sa.String)


def _plain(column: sa.ColumnElement) -> sa.ColumnElement:
    """A selected column without its label, to use inside an expression."""
    return column.element if isinstance(column, sa.Label) else column


def key_text(column: sa.ColumnElement) -> sa.ColumnElement:
    """A lead id as the text the project's tables hold (`scoring.data.parse.id_text`): a whole
    number without decimals."""
    if _is_text(column):
        return column
    if isinstance(column.type, sa.Float | sa.Numeric) and not isinstance(column.type, sa.Integer):
        return sa.cast(sa.cast(column, sa.BigInteger), sa.String)
    return sa.cast(column, sa.String)


def _as_text(column: sa.ColumnElement) -> sa.ColumnElement:
    return column if _is_text(column) else sa.cast(column, sa.String)


def _as_time(column: sa.ColumnElement, engine: sa.Engine) -> sa.ColumnElement:
    """A time column; on databases with real time types, text is cast (SQLite's date functions
    read ISO text as it is)."""
    if engine.dialect.name != "sqlite" and _is_text(column):
        return sa.cast(column, sa.DateTime)
    return column


def _as_number(column: sa.ColumnElement, engine: sa.Engine) -> sa.ColumnElement:
    if engine.dialect.name != "sqlite" and _is_text(column):
        return sa.cast(column, sa.Float(precision=53))
    return column


def _present(column: sa.ColumnElement) -> sa.ColumnElement:
    """Set: not null, and not blank when it is text."""
    if _is_text(column):
        return sa.and_(column.is_not(None), sa.func.trim(column) != "")
    return column.is_not(None)


def _text_key(column: sa.ColumnElement) -> sa.ColumnElement:
    """Text as validation reads it: stripped, blank as missing (so " webinar " is webinar, the
    source the spend names)."""
    if not _is_text(column):
        return column
    return sa.func.nullif(sa.func.trim(column), "")


def _lowered(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.lower(sa.func.trim(_as_text(column)))


def _reflect(engine: sa.Engine, name: str, existing: set[str]) -> sa.Table | None:
    if name not in existing:
        return None
    return sa.Table(name, sa.MetaData(), autoload_with=engine)


def _month(created: sa.ColumnElement, engine: sa.Engine) -> sa.ColumnElement:
    """The creation month as the number yyyymm: one date function a row on SQLite, `extract`
    (portable) elsewhere."""
    if engine.dialect.name == "sqlite":
        return sa.cast(sa.func.strftime("%Y%m", created), sa.Integer)
    return sa.extract("year", created) * 100 + sa.extract("month", created)


def _band(probability: sa.ColumnElement, edges: list[float]) -> sa.ColumnElement:
    """The score band's index: 0 below the first edge, len(edges) from the last one up."""
    whens = [(probability.is_(None), sa.null())]
    whens += [(probability < edge, i) for i, edge in enumerate(edges)]
    return sa.case(*whens, else_=len(edges))


def lead_facts(cfg: Config, engine: sa.Engine) -> Facts:
    """The report's view of every lead row; fails with the config key to fix when a configured
    column is missing."""
    query = lead_query(cfg, engine)
    columns = dict(zip(query.columns, query.select.selected_columns, strict=True))
    spec = cfg.leads
    existing = set(sa.inspect(engine).get_table_names())

    def column(name: str | None) -> sa.ColumnElement | None:
        return None if name is None else _plain(columns[name])

    lead_id = column(spec.id)
    assert lead_id is not None
    lead_key = key_text(lead_id)
    source_column = None
    if cfg.report.source is not None:
        if cfg.report.source not in columns:
            raise ConfigError(
                f"report.source: column {cfg.report.source!r} is not a lead column "
                f"(columns: {list(columns)})"
            )
        source_column = column(cfg.report.source)

    stage_origin: dict[str, str | None] = {}
    raw: dict[str, sa.ColumnElement | None] = {}
    funnel = {name.lower(): col for name, col in spec.funnel.items()}
    history = _reflect(engine, HISTORY, existing)
    feedback = _reflect(engine, FEEDBACK, existing)
    for stage in STAGES:
        if stage in funnel:
            raw[stage] = _present(column(funnel[stage]))
            stage_origin[stage] = f"leads.funnel.{stage} ({funnel[stage]})"
        elif stage == "mql" and history is not None:
            moved = (
                sa.select(sa.literal(1))
                .where(history.c.lead_id == lead_key, history.c.to_stage.in_(HANDED))
                .exists()
            )
            raw[stage], stage_origin[stage] = moved, DERIVED[stage]
        elif stage != "mql" and feedback is not None:
            kind = "sdr_accepted" if stage == "sal" else "ae_accepted"
            given = (
                sa.select(sa.literal(1))
                .where(feedback.c.kind == kind, feedback.c.lead_id == lead_key)
                .exists()
            )
            raw[stage], stage_origin[stage] = given, DERIVED[stage]
        else:
            raw[stage], stage_origin[stage] = None, None
    reached: dict[str, sa.ColumnElement | None] = {}
    for i, stage in enumerate(STAGES):
        later = [raw[s] for s in STAGES[i:] if raw[s] is not None]
        reached[stage] = sa.or_(*later) if raw[stage] is not None else None

    outcome = column(spec.outcome.column) if spec.outcome is not None else None
    created = column(spec.created_at)
    revenue = column(spec.revenue)

    source: sa.FromClause = query.select.get_final_froms()[0]
    needed = [lead_id, source_column, created, revenue, outcome, column(spec.close_date)]
    needed += [column(c) for c in funnel.values()]
    if isinstance(lead_id, sa.Column) and _only_from(needed, lead_id.table):
        source = lead_id.table  # the joins add no column the report reads: leave them out

    dims: dict[str, sa.ColumnElement] = {}
    if source_column is not None:
        dims["source"] = _text_key(source_column)
    if created is not None:
        dims["month"] = _month(_as_time(created, engine), engine)
    win_probability = None
    scores = _reflect(engine, SCORES, existing)
    if scores is not None:
        on = scores.c.lead_id == lead_key
        if "deleted_at" in scores.c:
            on = sa.and_(on, scores.c.deleted_at.is_(None))
        source = source.outerjoin(scores, on)
        win_probability = scores.c.win_probability
        dims["grade"] = scores.c.grade
        dims["band"] = _band(win_probability, cfg.report.score_bands)
    return Facts(
        source=source,
        lead_id=lead_id,
        lead_key=lead_key,
        dims=dims,
        reached=reached,
        stage_origin=stage_origin,
        outcome=outcome,
        revenue=None if revenue is None else _as_number(revenue, engine),
        created=created,
        closed=column(spec.close_date),
        win_probability=win_probability,
        bands=list(cfg.report.score_bands),
    )


def _only_from(expressions: list[sa.ColumnElement | None], table: sa.Table) -> bool:
    """Whether every column the expressions read is a column of `table`."""
    for expression in expressions:
        if expression is None:
            continue
        for found in sa.sql.visitors.iterate(expression):
            if isinstance(found, sa.Column) and found.table is not table:
                return False
    return True


def _flag(condition: sa.ColumnElement) -> sa.ColumnElement:
    return sa.case((condition, 1), else_=0)


def cube_query(facts: Facts) -> sa.Select:
    """One row per (source, month, grade, band, outcome) cell present: leads, leads that
    reached each stage, summed revenue, and the number and sum of current win probabilities."""
    dims = {**facts.dims}
    if facts.outcome is not None:
        dims["outcome"] = facts.outcome
    measures: list[sa.ColumnElement] = [sa.func.count().label("leads")]
    for stage, reached in facts.reached.items():
        if reached is not None:
            measures.append(sa.func.sum(_flag(reached)).label(stage))
    if facts.revenue is not None:
        measures.append(sa.func.sum(facts.revenue).label("revenue"))
    if (p := facts.win_probability) is not None:
        measures += [sa.func.count(p).label("scored"), sa.func.sum(p).label("probability")]
    labelled = [raw(e, n) if n == "outcome" else e.label(n) for n, e in dims.items()]
    query = sa.select(*labelled, *measures)
    query = query.select_from(facts.source)
    return query.group_by(*dims.values()) if dims else query


def read_cube(facts: Facts, engine: sa.Engine) -> pd.DataFrame:
    """The cube as a frame: dimension columns (None where unknown: month as YYYY-MM, band as
    its index), measures as numbers."""
    with engine.connect() as conn:
        rows = conn.execute(cube_query(facts)).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows])
    if frame.empty:
        return frame
    if "month" in frame:
        frame["month"] = [month_text(v) for v in frame["month"]]
    if "band" in frame:
        frame["band"] = [None if pd.isna(v) else int(v) for v in frame["band"]]
    for name in frame.columns:
        if name not in DIMENSIONS:
            frame[name] = pd.to_numeric(frame[name]).astype(float)
    return frame


def month_text(value: object) -> str | None:
    if value is None or pd.isna(value):
        return None
    number = int(value)
    return f"{number // 100:04d}-{number % 100:02d}"


def raw(column: sa.ColumnElement, name: str) -> sa.ColumnElement:
    """A column read as the driver returns it (times as stored: the report parses them like
    validation does)."""
    return sa.type_coerce(column, sa.types.NullType()).label(name)


def cycle_query(facts: Facts, won: list) -> sa.Select | None:
    """The won deals' (outcome one of `won`, values as stored) dimensions, creation and close
    times (as stored); None when there are none or the config has no outcome, creation date or
    close date."""
    if not won or facts.outcome is None or facts.created is None or facts.closed is None:
        return None
    dims = [expr.label(name) for name, expr in facts.dims.items()]
    return (
        sa.select(*dims, raw(facts.created, "created_at"), raw(facts.closed, "closed_at"))
        .select_from(facts.source)
        .where(facts.outcome.in_(won))
    )


def lead_dims_query(facts: Facts, names: list[str]) -> sa.Select:
    """Every lead handed to sales (reached mql, when known) with its dimensions `names`: for
    speed to lead by group."""
    dims = [facts.dims[name].label(name) for name in names]
    query = sa.select(raw(facts.lead_id, "lead_id"), *dims)
    query = query.select_from(facts.source)
    if (mql := facts.reached["mql"]) is not None:
        query = query.where(mql)
    return query


def reasons_query(
    facts: Facts,
    table: sa.Table,
    kind: sa.ColumnElement,
    reason: sa.ColumnElement,
    lead_id: sa.ColumnElement,
    kinds: list[str],
    by: str | None,
) -> sa.Select:
    """Counts of (group, kind, reason) over the rows of `table` whose `kind` is one of `kinds`;
    grouped by the lead's `by` dimension (rows of leads not in the lead database: None)."""
    kind_text = _lowered(kind)
    reason_text = sa.func.trim(_as_text(reason))
    parts = [kind_text.label("kind"), reason_text.label("reason"), sa.func.count().label("count")]
    groups = [kind_text, reason_text]
    source: sa.FromClause = table
    if by is not None:
        dim = facts.dims[by]
        source = table.outerjoin(facts.source, key_text(lead_id) == facts.lead_key)
        parts.insert(0, dim.label("group"))
        groups.insert(0, dim)
    return sa.select(*parts).select_from(source).where(kind_text.in_(kinds)).group_by(*groups)
