"""The lead_feedback table of the lead database: one row per piece of sales feedback.

feedback_id    the client's id (or `crm:<activity id>` / a digest for CRM rows): writes are
               idempotent on it; the same id with other content is a conflict
lead_id        the lead (leads.id), which must exist
kind           contact_attempt | sdr_accepted | sdr_rejected | ae_accepted | ae_disqualified
occurred_at    when it happened (UTC, naive), never in the future nor before the lead existed
reason         the reason's name from the config's list (sdr_rejected, ae_disqualified only)
rating         the SDR's lead-quality rating, 1..feedback.rating_max (SDR decisions only)
channel        how a contact attempt was made (call, email, ...), free text
origin         api | import | crm
digest         of the content (lead, kind, time, reason, rating, channel): tells a retry from
               a conflicting reuse of an id
recorded_at    when the row was written (UTC)

lead_feedback_errors keeps every refused row of an import with the field and the reason.

lead_feedback_crm_rows remembers the CRM activity rows copied so far (`scoring.feedback.crm_rows`):
row_key        64-bit hash of the row's activity id (of all its values without an id column)
row_hash       64-bit hash of its values and of the config that maps them
feedback_id    the lead_feedback row it became
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from scoring.data.database import ID_LENGTH

FEEDBACK, FEEDBACK_ERRORS = "lead_feedback", "lead_feedback_errors"
CRM_ROWS = "lead_feedback_crm_rows"


@dataclass(frozen=True)
class FeedbackTables:
    feedback: sa.Table
    errors: sa.Table
    crm_rows: sa.Table
    metadata: sa.MetaData


def define() -> FeedbackTables:
    meta = sa.MetaData()
    feedback = sa.Table(
        FEEDBACK,
        meta,
        sa.Column("feedback_id", sa.String(ID_LENGTH), primary_key=True),
        sa.Column("lead_id", sa.String(ID_LENGTH), nullable=False, index=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("rating", sa.Integer),
        sa.Column("channel", sa.String(64)),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Index("ix_lead_feedback_kind_lead", "kind", "lead_id", "occurred_at"),
    )
    errors = sa.Table(
        FEEDBACK_ERRORS,
        meta,
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),  # the file, or the CRM table
        sa.Column("row_number", sa.Integer),
        sa.Column("feedback_id", sa.String(ID_LENGTH)),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("row", sa.Text, nullable=False),
        sa.Column("detected_at", sa.DateTime, nullable=False),
    )
    crm_rows = sa.Table(
        CRM_ROWS,
        meta,
        sa.Column("row_key", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("row_hash", sa.BigInteger, nullable=False),
        sa.Column("feedback_id", sa.String(ID_LENGTH), nullable=False),
    )
    return FeedbackTables(feedback, errors, crm_rows, meta)


def create(engine: sa.Engine) -> FeedbackTables:
    """The feedback tables, created when missing."""
    tables = define()
    tables.metadata.create_all(engine, checkfirst=True)
    return tables
