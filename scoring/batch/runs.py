"""Run bookkeeping in `lead_score_runs`: start or resume a run, record each committed chunk in the
chunk's own transaction, finish.

A run that did not finish (status `running` after a crash, `failed`, `interrupted`) is resumed by
the next invocation with the same champion version: same `as_of`, same mode, from the lead id
after its last committed chunk. `restart=True`, or a different champion, abandons it instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from scoring.batch.lock import Holder, utcnow
from scoring.batch.tables import COUNTERS, Tables

RESUMABLE = ("running", "failed", "interrupted")


@dataclass
class Run:
    run_id: int
    mode: str  # "full" or "incremental"
    explain: bool
    as_of: datetime
    model_version: str
    last_key: object | None  # id of the last lead of the last committed chunk
    chunks_done: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    resumed_from: int | None = None  # run id resumed (same as run_id) or None for a fresh run
    reason: str = ""  # why this mode

    @property
    def full(self) -> bool:
        return self.mode == "full"


def encode_key(value: object) -> str | None:
    """A lead id value as JSON text that decodes to the same type (int, float, str, Decimal)."""
    if value is None:
        return None
    if isinstance(value, bool | int):
        return json.dumps(["int", int(value)])
    if isinstance(value, float):
        return json.dumps(["float", value])
    if isinstance(value, Decimal):
        return json.dumps(["decimal", str(value)])
    return json.dumps(["str", str(value)])


def decode_key(text: str | None) -> object | None:
    if text is None:
        return None
    kind, value = json.loads(text)
    return {"int": int, "float": float, "decimal": Decimal}.get(kind, str)(value)


def _latest(conn: sa.Connection, tables: Tables, *statuses: str) -> sa.Row | None:
    runs = tables.runs
    query = sa.select(runs).where(runs.c.status.in_(statuses)).order_by(runs.c.run_id.desc())
    return conn.execute(query.limit(1)).one_or_none()


def _from_row(row: sa.Row, resumed: bool, reason: str) -> Run:
    return Run(
        run_id=row.run_id,
        mode=row.mode,
        explain=bool(row.explain),
        as_of=row.as_of,
        model_version=row.model_version,
        last_key=decode_key(row.last_key),
        chunks_done=row.chunks_done,
        counts={c: int(getattr(row, c)) for c in COUNTERS},
        resumed_from=row.run_id if resumed else None,
        reason=reason,
    )


def start(
    engine: sa.Engine,
    tables: Tables,
    holder: Holder,
    version: str,
    as_of: datetime,
    full: bool,
    explain: bool,
    restart: bool = False,
) -> Run:
    """Resume the unfinished run or start a new one. Call with the lock held."""
    runs = tables.runs
    now = utcnow()
    with engine.begin() as conn:
        pending = _latest(conn, tables, *RESUMABLE)
        if pending is not None:
            if pending.model_version == version and not restart:
                conn.execute(
                    runs.update()
                    .where(runs.c.run_id == pending.run_id)
                    .values(
                        status="running",
                        holder=holder.name,
                        resumed=pending.resumed + 1,
                        updated_at=now,
                    )
                )
                return _from_row(pending, True, f"resumed after status {pending.status}")
            conn.execute(
                runs.update()
                .where(runs.c.run_id == pending.run_id)
                .values(status="abandoned", finished_at=now, updated_at=now)
            )
        last = _latest(conn, tables, "completed")
        if full:
            mode, reason = "full", "--full"
        elif last is None:
            mode, reason = "full", "first run on this database"
        elif last.model_version != version:
            mode, reason = (
                "full",
                f"new champion: version {version} (last run: {last.model_version})",
            )
        else:
            mode, reason = "incremental", f"changes since run {last.run_id}"
        values = {
            "status": "running",
            "mode": mode,
            "explain": explain,
            "as_of": as_of,
            "model_version": version,
            "started_at": now,
            "updated_at": now,
            "last_key": None,
            "chunks_done": 0,
            "resumed": 0,
            "holder": holder.name,
        } | dict.fromkeys(COUNTERS, 0)
        run_id = conn.execute(runs.insert().values(**values)).inserted_primary_key[0]
        row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).one()
    return _from_row(row, False, reason)


def record_chunk(
    conn: sa.Connection,
    tables: Tables,
    run: Run,
    last_key: object,
    counts: dict[str, int],
    chunk: bool = True,
) -> None:
    """Advance the run past a chunk, inside the transaction that wrote the chunk."""
    runs = tables.runs
    conn.execute(
        runs.update()
        .where(runs.c.run_id == run.run_id)
        .values(
            last_key=encode_key(last_key),
            chunks_done=runs.c.chunks_done + int(chunk),
            updated_at=utcnow(),
            **{c: getattr(runs.c, c) + counts.get(c, 0) for c in COUNTERS},
        )
    )
    run.last_key = last_key
    run.chunks_done += int(chunk)
    for c in COUNTERS:
        run.counts[c] += counts.get(c, 0)


def finish(conn: sa.Connection, tables: Tables, run: Run, status: str) -> None:
    runs = tables.runs
    now = utcnow()
    conn.execute(
        runs.update()
        .where(runs.c.run_id == run.run_id)
        .values(status=status, updated_at=now, finished_at=now if status == "completed" else None)
    )
