"""Writing checked feedback rows into lead_feedback, idempotently on the feedback id: a row sent
again is a duplicate (nothing written), the same id with other content is a conflict, or, for
the CRM's own rows (its record is the truth), an update."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from scoring.data.sql import in_lists, racing_on_keys, write_rows
from scoring.feedback.checks import Problem
from scoring.feedback.table import FeedbackTables

Origin = Literal["api", "import", "crm"]
COLUMNS = ("feedback_id", "lead_id", "kind", "occurred_at", "reason", "rating", "channel")


@dataclass
class Written:
    """What a write did, by feedback id."""

    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    conflicts: list[Problem] = field(default_factory=list)


def write(
    engine: sa.Engine,
    tables: FeedbackTables,
    rows: Sequence[dict],
    origin: Origin,
    now: datetime,
    all_or_nothing: bool = False,
) -> Written:
    """Store `rows` (from `checks.rows_of`). A conflicting id is a Problem on `feedback_id`
    (updated instead for origin crm); with `all_or_nothing` any conflict writes nothing. Two
    writers racing on one new id: the loser's transaction fails on the key and is tried again,
    where the id is no longer new."""
    return racing_on_keys(
        engine, lambda conn, _: _write(conn, tables.feedback, rows, origin, now, all_or_nothing)
    )


def _write(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict],
    origin: Origin,
    now: datetime,
    all_or_nothing: bool,
) -> Written:
    known = _digests(conn, table, [r["feedback_id"] for r in rows])
    done = Written()
    new: list[dict] = []
    changed: list[dict] = []
    for row in rows:
        fid = row["feedback_id"]
        before = known.get(fid)
        if before == row["digest"]:
            done.duplicates.append(fid)
        elif before is None:
            new.append(row)
            known[fid] = row["digest"]  # a repeat later in the batch is a duplicate or conflict
        elif origin == "crm":
            changed.append(row)
        else:
            msg = "this id was stored with other content: send a new id for new feedback"
            done.conflicts.append(Problem(row["index"], "id", msg, "id_conflict"))
    if all_or_nothing and done.conflicts:
        return Written(conflicts=done.conflicts)
    if new:
        values = {c: [r[c] for r in new] for c in (*COLUMNS, "digest")}
        values |= {"origin": [origin] * len(new), "recorded_at": [now] * len(new)}
        write_rows(conn, table.insert(), values)
        done.stored = [r["feedback_id"] for r in new]
    for row in changed:
        update = {c: row[c] for c in COLUMNS if c != "feedback_id"}
        update |= {"digest": row["digest"], "recorded_at": now}
        conn.execute(table.update().where(table.c.feedback_id == row["feedback_id"]), update)
        done.updated.append(row["feedback_id"])
    return done


def _digests(conn: sa.Connection, table: sa.Table, ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for clause in in_lists(table.c.feedback_id, sorted(set(ids))):
        select = sa.select(table.c.feedback_id, table.c.digest).where(clause)
        found.update((fid, dig) for fid, dig in conn.execute(select))
    return found
