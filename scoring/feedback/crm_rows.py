"""The CRM activity rows already copied into lead_feedback (table lead_feedback_crm_rows): a
64-bit hash of each row's key (its activity id, else all its values) and of its values, so a sync
checks and writes only the rows that are new or were edited in the CRM since. Without it every
sync validated all 1.74M activities of the 1M-lead world again (55 s a rescoring run).

The values' hash also covers the config that shapes a row (`feedback:` and the leads' id and
creation columns) and `RECIPE`: changing either checks every row again once. A row refused is
never remembered, so it is checked again on every sync (its lead may have arrived since). A
remembered row whose lead_feedback row is gone (deleted by hand) is forgotten, and copied again
(a row edited by hand here stays so until the CRM's row changes). A key that appears more than
once in the CRM table is always checked, as before."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from scoring.config import Config
from scoring.data.sql import fetch_rows, in_lists, racing_on_keys, write_rows
from scoring.feedback.table import FeedbackTables

RECIPE = 1  # bump when the mapping of a CRM row to feedback changes: every row is checked again


def _hash64(text: str, salt: bytes = b"") -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8, key=salt).digest()
    return int.from_bytes(digest, "little", signed=True)


def salt(cfg: Config) -> bytes:
    """What, besides a row's values, decides the feedback it becomes."""
    leads = cfg.leads
    shape = [RECIPE, cfg.feedback.model_dump(mode="json"), leads.table, leads.id, leads.created_at]
    return hashlib.blake2b(json.dumps(shape, sort_keys=True).encode(), digest_size=16).digest()


@dataclass(frozen=True)
class Batch:
    """The rows of one sync: each row's key and values' hash, and which to check."""

    keys: np.ndarray
    values: np.ndarray
    fresh: np.ndarray  # positions of the rows new, edited, or of a repeated key
    known: np.ndarray  # per row: its key is remembered (with these values or others)

    @property
    def unchanged(self) -> int:
        return len(self.keys) - len(self.fresh)


def new_or_edited(
    engine: sa.Engine,
    tables: FeedbackTables,
    rows: Sequence[tuple],
    id_at: int | None,
    cfg: Config,
) -> Batch:
    """`rows` (the driver's tuples; the CRM id at `id_at`) hashed, and those to check: all but
    the rows remembered with the same values under a key unique in `rows`. Rows whose
    lead_feedback row is gone are forgotten first (a short transaction of its own: SQLite has
    one writer at a time)."""
    keys, values = row_hashes(rows, id_at, salt(cfg))
    table = tables.crm_rows
    with engine.begin() as conn:
        _forget_lost(conn, tables)
    with engine.connect() as conn:
        stored = fetch_rows(conn, sa.select(table.c.row_key, table.c.row_hash))
    if not stored:
        return Batch(keys, values, np.arange(len(rows)), np.zeros(len(rows), dtype=bool))
    known = np.array(stored, dtype=np.int64).reshape(-1, 2)
    known = known[np.argsort(known[:, 0])]
    at = np.clip(np.searchsorted(known[:, 0], keys), 0, len(known) - 1)
    found = known[at, 0] == keys
    same = found & (known[at, 1] == values)
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    unique = np.zeros(len(keys), dtype=bool)
    unique[first[counts == 1]] = True
    return Batch(keys, values, np.flatnonzero(~(same & unique)), found)


def row_hashes(rows: Sequence[tuple], id_at: int | None, salt_: bytes) -> tuple[np.ndarray, ...]:
    """Each row's key (the hash of its value at `id_at`, or of the row) and values' hash. The
    values as the driver gives them, typed (`repr`): 4 and "4" differ."""
    values = np.fromiter((_hash64(repr(row), salt_) for row in rows), np.int64, len(rows))
    keyed = rows if id_at is None else (row[id_at] for row in rows)
    keys = np.fromiter((_hash64(repr(key)) for key in keyed), np.int64, len(rows))
    return keys, values


def _forget_lost(conn: sa.Connection, tables: FeedbackTables) -> None:
    remembered, feedback = tables.crm_rows, tables.feedback
    kept = sa.select(sa.literal(1)).where(feedback.c.feedback_id == remembered.c.feedback_id)
    conn.execute(remembered.delete().where(~kept.exists()))


def remember(
    engine: sa.Engine, table: sa.Table, batch: Batch, stored: Sequence[int], ids: Sequence[str]
) -> None:
    """Remember the fresh rows of `batch` at positions `stored` (of `batch.fresh`), with their
    feedback `ids`, as copied; a key remembered before is replaced (the last of a repeated key
    stands: it is checked again anyway). Two syncs racing on a new key: the loser's transaction
    fails on the key and is tried again, replacing every key."""
    rows = batch.fresh[np.asarray(stored, dtype=int)]
    last = {int(k): i for i, k in enumerate(batch.keys[rows])}
    columns = {
        "row_key": list(last),
        "row_hash": [int(batch.values[rows[i]]) for i in last.values()],
        "feedback_id": [ids[i] for i in last.values()],
    }
    known = [k for k, i in last.items() if batch.known[rows[i]]]

    def replace(conn: sa.Connection, again: bool) -> None:
        for clause in in_lists(table.c.row_key, columns["row_key"] if again else known):
            conn.execute(table.delete().where(clause))
        write_rows(conn, table.insert(), columns)

    racing_on_keys(engine, replace)
