"""The tables batch rescoring writes into the lead database (schemas documented in docs/batch.md).

lead_scores          one row per lead: the latest scores, stage, grade and reasons
lead_stage_history   one row per stage change (new lead, up, down), with the model version
lead_score_errors    rows that failed validation or scoring, with the reason (current problems)
lead_score_runs      one row per run: status, as_of, model version, last committed chunk, counts
lead_score_lock      at most one row: the run holding the database (one run at a time)
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from scoring.data.database import ID_LENGTH

SCORES, HISTORY, ERRORS, RUNS, LOCK = (
    "lead_scores",
    "lead_stage_history",
    "lead_score_errors",
    "lead_score_runs",
    "lead_score_lock",
)

# run counters, in the order the summary prints them; each lead id read is counted once:
# leads = evaluated + skipped + failed, and evaluated = written + unchanged
COUNTERS = (
    "leads",  # distinct lead ids read (rows without an id are errors, not leads)
    "evaluated",  # leads whose features were computed and scored this run
    "written",  # scored leads whose lead_scores row was inserted or updated
    "unchanged",  # scored leads whose row already held exactly this (not rewritten)
    "skipped",  # leads not due (inputs, model and re-check time as stored): not scored
    "failed",  # leads due but not scored: every row of theirs failed validation or scoring
    "errors",  # rows in lead_score_errors (lead rows, event rows, scoring failures)
    "new",  # leads scored for the first time
    "moved_up",  # stage changes towards sql
    "moved_down",  # stage changes towards nurture
    "deleted",  # lead_scores rows marked deleted_at: their lead left the lead database
)


@dataclass(frozen=True)
class Tables:
    scores: sa.Table
    history: sa.Table
    errors: sa.Table
    runs: sa.Table
    lock: sa.Table
    metadata: sa.MetaData


def define() -> Tables:
    meta = sa.MetaData()
    scores = sa.Table(
        SCORES,
        meta,
        sa.Column("lead_id", sa.String(ID_LENGTH), primary_key=True),
        sa.Column("model_version", sa.String(40), nullable=False),
        sa.Column("scored_at", sa.DateTime, nullable=False),
        sa.Column("fit_score", sa.Float(precision=53)),
        sa.Column("intent_score", sa.Float(precision=53)),
        sa.Column("win_probability", sa.Float(precision=53), nullable=False),
        sa.Column("expected_revenue", sa.Float(precision=53)),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("grade", sa.String(4)),
        sa.Column("reasons", sa.Text),
        sa.Column("input_hash", sa.String(32), nullable=False),
        sa.Column("next_check_at", sa.DateTime, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        # set when the lead is no longer in the lead database (deleted in the CRM): the row and
        # its history stay, a CRM sync skips or archives it; cleared if the lead comes back
        sa.Column("deleted_at", sa.DateTime),
    )
    history = sa.Table(
        HISTORY,
        meta,
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("lead_id", sa.String(ID_LENGTH), nullable=False, index=True),
        sa.Column("from_stage", sa.String(16)),
        sa.Column("to_stage", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
        sa.Column("win_probability", sa.Float(precision=53), nullable=False),
        sa.Column("model_version", sa.String(40), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False, index=True),
    )
    errors = sa.Table(
        ERRORS,
        meta,
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("lead_id", sa.String(ID_LENGTH), index=True),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("row", sa.Text, nullable=False),
        sa.Column("detected_at", sa.DateTime, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
    )
    runs = sa.Table(
        RUNS,
        meta,
        sa.Column("run_id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("explain", sa.Boolean, nullable=False),
        sa.Column("as_of", sa.DateTime, nullable=False),
        sa.Column("model_version", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("last_key", sa.Text),
        sa.Column("chunks_done", sa.Integer, nullable=False, default=0),
        sa.Column("resumed", sa.Integer, nullable=False, default=0),
        sa.Column("holder", sa.String(200), nullable=False),
        *(
            sa.Column(name, sa.BigInteger, nullable=False, default=0, server_default="0")
            for name in COUNTERS
        ),
    )
    lock = sa.Table(
        LOCK,
        meta,
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("acquired_at", sa.DateTime, nullable=False),
        sa.Column("heartbeat_at", sa.DateTime, nullable=False),
    )
    return Tables(scores, history, errors, runs, lock, meta)


def create(engine: sa.Engine) -> Tables:
    """The rescoring tables, created when missing; tables of an earlier version get the columns
    added since (nullable, or with a default), their rows are left as they are."""
    tables = define()
    tables.metadata.create_all(engine, checkfirst=True)
    _add_missing_columns(engine, tables)
    return tables


def _add_missing_columns(engine: sa.Engine, tables: Tables) -> None:
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        for table in tables.metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    # names are this module's, quoted by the dialect like the rest of the DDL
                    spec = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
                    name = conn.dialect.identifier_preparer.format_table(table)
                    conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN {spec}"))
