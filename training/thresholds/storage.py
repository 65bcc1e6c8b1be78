"""Optuna studies kept in the MLflow database: a journal table beside MLflow's own tables.

Optuna's relational storage cannot share a database with MLflow (both keep their schema
revision in `alembic_version`, and each refuses the other's), so studies are stored as
Optuna's journal, one row per operation, in the table `optuna_journal`. It works on any
SQLAlchemy URL MLflow can use and resumes from what is there; appends are serialised on SQLite
and PostgreSQL (on MySQL, run one study process at a time).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.storages.journal import BaseJournalBackend

from scoring.data.database import connect

TABLE = "optuna_journal"
_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


class SqlJournalBackend(BaseJournalBackend):
    """Optuna journal in one SQL table; appends are transactions, reads follow insertion order."""

    def __init__(self, url: str) -> None:
        self.engine = connect(url)
        meta = sa.MetaData()
        self.table = sa.Table(
            TABLE,
            meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("log", sa.Text, nullable=False),
        )
        meta.create_all(self.engine)

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        query = sa.select(self.table.c.log).order_by(self.table.c.id).offset(log_number_from)
        with self.engine.connect() as conn:
            return [json.loads(row) for row in conn.execute(query).scalars()]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # ids must be committed in the order they are handed out, or a reader at offset
                # n skips a late commit: one writer at a time (SQLite serialises writers anyway)
                conn.execute(sa.text(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE"))
            conn.execute(sa.insert(self.table), [{"log": json.dumps(log)} for log in logs])


def database_url(tracking_uri: str) -> str | None:
    """The SQLAlchemy URL of an MLflow tracking store, or None when it is not a database
    (an MLflow server over HTTP: then pass the study storage explicitly)."""
    scheme = tracking_uri.split(":", 1)[0].split("+", 1)[0]
    if scheme not in _DATABASE_SCHEMES:
        return None
    if tracking_uri.startswith("postgresql://"):  # MLflow's default driver is not installed here
        return "postgresql+psycopg://" + tracking_uri.removeprefix("postgresql://")
    return tracking_uri


def study_storage(url: str | None) -> optuna.storages.BaseStorage | None:
    """Journal storage in the database at `url`; None (in memory) without one."""
    if url is None:
        return None
    return optuna.storages.JournalStorage(SqlJournalBackend(url))
