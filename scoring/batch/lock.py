"""One rescoring run at a time per database: a row in `lead_score_lock`.

Taking the lock inserts the row; the primary key makes two inserts race-free on every dialect.
A lock left behind by a crashed run (kill -9, power cut) is reclaimed when its holder is a dead
process on this host, or when its heartbeat is older than `stale_after` (a holder on another
host). Reclaiming is a compare-and-swap on the holder, so two runs cannot both reclaim it.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from scoring.batch.tables import Tables

LOCK_NAME = "rescore"
STALE_AFTER = timedelta(minutes=10)


class LockedError(RuntimeError):
    """Another run holds the database."""


def utcnow() -> datetime:
    """Naive UTC, microseconds dropped (the convention of the lead database)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    token: str

    @property
    def name(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    @classmethod
    def me(cls) -> Holder:
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(row: sa.Row, now: datetime, stale_after: timedelta) -> bool:
    if row.host == socket.gethostname():
        return not _alive(row.pid)
    return now - row.heartbeat_at >= stale_after


def acquire(
    engine: sa.Engine, tables: Tables, holder: Holder, stale_after: timedelta = STALE_AFTER
) -> str | None:
    """Take the lock; returns the name of a crashed holder whose lock was reclaimed, or None.
    Raises LockedError when a live run holds it."""
    lock = tables.lock
    now = utcnow()
    row = {
        "name": LOCK_NAME,
        "holder": holder.name,
        "host": holder.host,
        "pid": holder.pid,
        "acquired_at": now,
        "heartbeat_at": now,
    }
    try:
        with engine.begin() as conn:
            conn.execute(lock.insert().values(**row))
        return None
    except sa.exc.IntegrityError:
        pass
    with engine.begin() as conn:
        current = conn.execute(sa.select(lock).where(lock.c.name == LOCK_NAME)).one_or_none()
        if current is None:  # released between our insert and this read
            conn.execute(lock.insert().values(**row))
            return None
        if not _is_stale(current, now, stale_after):
            raise LockedError(
                f"another rescoring run holds this database: {current.holder} since "
                f"{current.acquired_at:%Y-%m-%d %H:%M:%S} UTC (heartbeat "
                f"{current.heartbeat_at:%H:%M:%S}); it is released when that run ends, or "
                f"reclaimed once it is dead"
            )
        swapped = conn.execute(
            lock.update()
            .where(lock.c.name == LOCK_NAME, lock.c.holder == current.holder)
            .values(**row)
        )
        if swapped.rowcount != 1:
            raise LockedError("another run reclaimed the lock of a crashed run first")
        return str(current.holder)


def heartbeat(conn: sa.Connection, tables: Tables, holder: Holder) -> None:
    """Refresh the heartbeat inside the caller's transaction; fails if the lock was lost."""
    lock = tables.lock
    done = conn.execute(
        lock.update()
        .where(lock.c.name == LOCK_NAME, lock.c.holder == holder.name)
        .values(heartbeat_at=utcnow())
    )
    if done.rowcount != 1:
        raise LockedError(f"lost the rescoring lock ({holder.name}): another run reclaimed it")


def release(engine: sa.Engine, tables: Tables, holder: Holder) -> None:
    lock = tables.lock
    with engine.begin() as conn:
        conn.execute(lock.delete().where(lock.c.name == LOCK_NAME, lock.c.holder == holder.name))
