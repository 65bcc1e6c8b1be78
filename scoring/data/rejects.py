"""Rows that failed validation, kept aside with the field and the reason: nothing is dropped
silently."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

REJECTS_TABLE = "lead_validation_errors"


def store_rejects(engine: sa.Engine, rejects: pd.DataFrame, source: str, table: str) -> None:
    """Keep rejected rows aside in `lead_validation_errors`, replacing the last check's rows."""
    meta = sa.MetaData()
    errors = sa.Table(
        REJECTS_TABLE,
        meta,
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("table_name", sa.String(200), nullable=False),
        sa.Column("lead_id", sa.Text),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("row", sa.Text, nullable=False),
        sa.Column("detected_at", sa.DateTime, nullable=False),
    )
    meta.create_all(engine)
    now = pd.Timestamp.now(tz="UTC").tz_convert(None).to_pydatetime()
    rows = [
        {**r, "lead_id": None if pd.isna(r["lead_id"]) else str(r["lead_id"])}
        for r in rejects.to_dict("records")
    ]
    with engine.begin() as conn:
        conn.execute(errors.delete().where(errors.c.source == source, errors.c.table_name == table))
        if rows:
            conn.execute(
                errors.insert(),
                [{**r, "source": source, "table_name": table, "detected_at": now} for r in rows],
            )
