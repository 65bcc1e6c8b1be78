"""Batch shadow scoring: the source's challenger scores the leads of each chunk the champion's run
reads, at the run's `as_of`, into lead_shadow_scores (scoring/model/shadow.py), origin 'batch'.

It is a second pass over the chunk in the same worker, right after the champion's: the chunk's
leads and events are read again and validated and featurised with the challenger's own config (a
challenger may be trained on other features), by the same chunk code (`chunk.evaluate`). The
challenger scores the leads the champion evaluated, and the chunk's leads that have no batch row
of this challenger version yet (a new challenger catches up on its first run). It never writes
lead_scores, lead_stage_history or lead_score_errors (a lead the challenger cannot score is
counted, and the champion reports its bad rows), and nothing it does fails the champion's run:
a failure is a line of the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from scoring.batch.chunk import RANGE_SHARE, Columns, Context, evaluate
from scoring.batch.lock import utcnow
from scoring.batch.read import Chunk, Sources, read_events, read_leads
from scoring.config import Config
from scoring.data.parse import id_text
from scoring.data.sql import fetch_rows, in_lists
from scoring.model.shadow import SCORE_COLUMNS, SHADOW, define, upsert

ORIGIN = "batch"


@dataclass(frozen=True)
class Challenger:
    """The challenger a run shadows with: its registered version, its label for the summary
    (`lead-scoring v4`), its scorer folder, or why it cannot score."""

    version: str
    label: str
    scorer_dir: Path | None = None
    problem: str | None = None


@dataclass(frozen=True)
class ShadowSpec:
    """What a worker needs to score with the challenger (picklable for the pool)."""

    cfg: Config  # the run's config with the challenger's features (`compatible_config`)
    scorer_dir: str
    version: str


@dataclass
class ShadowChunk:
    """A chunk's shadow rows, the leads the challenger was asked to but could not score, or why
    the whole chunk was not scored."""

    rows: Columns = field(default_factory=dict)
    failed: int = 0
    error: str | None = None

    @classmethod
    def failure(cls, error: str) -> ShadowChunk:
        return cls(error=error)


def _unscored(conn: sa.Connection, version: str, ids: list[str]) -> set[str]:
    """Of `ids`, those without a batch row of this challenger version."""
    table = define()
    query = sa.select(table.c.lead_id).where(
        table.c.model_version == version, table.c.origin == ORIGIN
    )
    have: set[str] = set()
    for where in in_lists(table.c.lead_id, ids):
        have.update(r[0] for r in fetch_rows(conn, query.where(where)))
    return set(ids) - have


def score_chunk(
    ctx: Context, src: Sources, engine: sa.Engine, chunk: Chunk, due: Sequence[str]
) -> ShadowChunk:
    """The challenger's rows for a chunk: of the leads in `due` (those the champion evaluated)
    and those it has not scored yet. `ctx` and `src` are the challenger's."""
    with engine.connect() as conn:
        rows = read_leads(conn, src, chunk)
        keys = [id_text(r[src.id_position]) for r in rows]
        ids = list(dict.fromkeys(k for k in keys if k is not None))
        wanted = (set(due) | _unscored(conn, ctx.version, ids)) & set(ids)
        picked = [r for r, k in zip(rows, keys, strict=True) if k in wanted]
        events = None
        if src.events is not None and picked:
            dense = src.event_ranges and len(wanted) >= RANGE_SHARE * len(ids)
            ordered = [i for i in ids if i in wanted]
            events = read_events(conn, src, chunk, None if dense else ordered)
    if not picked:
        return ShadowChunk()
    # bad rows: the champion reports them
    scores, _, _ = evaluate(ctx, src.leads.columns, picked, events)
    if scores is None:
        return ShadowChunk(failed=len(wanted))
    return ShadowChunk(_rows(ctx, scores), failed=len(wanted) - len(scores["lead_id"]))


def _rows(ctx: Context, scores: dict[str, np.ndarray]) -> Columns:
    n = len(scores["lead_id"])
    floats = {c: np.where(np.isnan(scores[c]), None, scores[c]).tolist() for c in SCORE_COLUMNS}
    return {
        "lead_id": scores["lead_id"].tolist(),
        "model_version": [ctx.version] * n,
        "origin": [ORIGIN] * n,
        "scored_at": [utcnow()] * n,
        "as_of": [ctx.as_of] * n,
        **floats,
        "stage": scores["stage"].tolist(),
        "grade": [g or None for g in scores["grade"].tolist()],
        "run_id": [ctx.run_id] * n,
    }


@dataclass
class ShadowTally:
    """The shadow pass of a run as the parent sees it: rows written chunk by chunk (each in its
    own transaction, after the champion's), leads not scored, and what went wrong."""

    challenger: Challenger
    scored: int = 0
    failed: int = 0
    failed_chunks: int = 0
    problems: list[str] = field(default_factory=list)
    stopped: bool = False  # a write failed: no more shadow writes this run

    def add(self, engine: sa.Engine, part: ShadowChunk | None) -> None:
        """Write a chunk's shadow rows; a failure is kept for the summary, never raised."""
        if part is None or self.stopped:
            return
        if part.error is not None:
            self._problem(part.error)
            self.failed_chunks += 1
            return
        self.failed += part.failed
        if not part.rows:
            return
        try:
            with engine.begin() as conn:
                self.scored += upsert(conn, define(), part.rows)
        except Exception as exc:  # the champion's chunk is committed: its run goes on
            self._problem(f"writing {SHADOW}: {type(exc).__name__}: {_first_line(exc)}")
            self.stopped = True

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def to_text(self) -> str:
        c = self.challenger
        if c.problem is not None:
            return f"shadow: challenger {c.label} not scored: {c.problem}"
        line = f"shadow: challenger {c.label} scored {self.scored:,} leads into {SHADOW}"
        if self.failed:
            line += f" ({self.failed:,} it could not score)"
        if self.failed_chunks:
            line += f"; {self.failed_chunks:,} chunk(s) not shadowed"
        if self.stopped:
            line += "; shadow writes stopped"
        if self.problems:
            line += ": " + "; ".join(self.problems[:3])
        return line


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""
