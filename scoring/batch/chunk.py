"""Rescoring one chunk of leads: read, decide what to evaluate, validate, featurise, score,
project the stage forward, and compare with what `lead_scores` holds.

Runs in a worker process; the result is the rows to write, applied by the parent in one
transaction together with the run's progress (scoring/rescore_write.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.batch.project import next_checks
from scoring.batch.read import (
    Chunk,
    Sources,
    Stored,
    columns,
    event_stats,
    read_events,
    read_leads,
    read_null_id_events,
    read_null_id_leads,
    read_reasons,
    read_stored,
    row_hashes,
    stats_of_events,
)
from scoring.batch.tables import Tables
from scoring.data.arrays import objects
from scoring.data.parse import id_text
from scoring.data.validation import LeadArrays, check_events, check_leads
from scoring.features import Features
from scoring.model.memo import memoised
from scoring.model.scorer import STAGES, LeadScorer

# a lead is evaluated with its events when at least this share of the chunk is due: one range
# read of the events beats many IN lists
RANGE_SHARE = 0.25
SCORE_COLUMNS = ("fit_score", "intent_score", "win_probability", "expected_revenue")
MAX_FAILURES = 50  # single-lead scoring failures per chunk before the run stops
ROUNDING = {"fit_score": 1, "intent_score": 1, "win_probability": 6, "expected_revenue": 2}
RANK = {stage: i for i, stage in enumerate(STAGES)}

Explainer = Callable[[LeadScorer, Mapping[str, np.ndarray], Mapping[str, np.ndarray]], list[dict]]
Columns = dict[str, list]  # rows to write: one list of values per column


@dataclass(frozen=True)
class Context:
    """What every chunk of a run shares."""

    scorer: LeadScorer
    version: str
    run_id: int
    as_of: datetime  # naive UTC
    full: bool
    explainer: Explainer | None = None


@dataclass
class ChunkResult:
    index: int
    last_key: object | None
    rows: int  # lead rows read
    upserts: Columns = field(default_factory=dict)
    history: Columns = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    evaluated_ids: list[str] = field(default_factory=list)  # their old errors are replaced
    counts: dict[str, int] = field(default_factory=dict)


def due_ids(ctx: Context, hashes: dict[str, str], stored: Stored) -> list[str]:
    """Lead ids to evaluate: everything in a full run; otherwise new leads, changed inputs, a
    different model version, a passed re-check time, reasons asked for and missing, or a row
    marked deleted (the lead is back)."""
    ids = list(hashes)
    if ctx.full:
        return ids
    known, old = stored.aligned(ids)
    due = ~known | (old["input_hash"] != np.array(list(hashes.values()), dtype=object))
    due |= old["model_version"] != ctx.version
    check = old["next_check_at"]
    due |= np.isnat(check) | (check <= np.datetime64(ctx.as_of, "us"))
    due |= old["deleted"]
    if ctx.explainer is not None:
        due |= ~old["has_reasons"]
    return [i for i, d in zip(ids, due.tolist(), strict=True) if d]


def _error(ctx: Context, lead_id: object, step: str, fields: str, reason: str, row: str) -> dict:
    return {
        "lead_id": None if lead_id is None or pd.isna(lead_id) else str(lead_id),
        "step": step,
        "fields": fields,
        "reason": reason,
        "row": row,
        "detected_at": ctx.as_of,
        "run_id": ctx.run_id,
    }


def _reject_rows(ctx: Context, rejects: pd.DataFrame, step: str) -> list[dict]:
    return [
        _error(ctx, r.lead_id, step, r.fields, r.reason, r.row)
        for r in rejects.itertuples(index=False)
    ]


class SystemicError(RuntimeError):
    """Scoring fails for lead after lead: a broken model or environment, not bad rows. The run
    stops (status failed, resumable once fixed) instead of filling the error table."""


def _guarded(
    func: Callable[[np.ndarray], dict[str, np.ndarray]],
    rows: np.ndarray,
    budget: list[int] | None = None,
) -> tuple[list[dict[str, np.ndarray]], list[tuple[int, str]]]:
    """Run `func` on `rows`; when it raises, split the rows in halves until each failure is
    pinned to one row. Returns the results that worked and (row, error) for the rows that
    failed. More than MAX_FAILURES single-row failures in a chunk raise SystemicError."""
    budget = budget if budget is not None else [MAX_FAILURES]
    try:
        return [func(rows)], []
    except Exception as exc:  # one lead's failure must not stop the run
        if len(rows) == 1:
            budget[0] -= 1
            if budget[0] < 0:
                raise SystemicError(f"scoring fails for lead after lead: {exc!r}") from exc
            return [], [(int(rows[0]), f"{type(exc).__name__}: {exc}")]
    half = len(rows) // 2
    left, left_bad = _guarded(func, rows[:half], budget)
    right, right_bad = _guarded(func, rows[half:], budget)
    return left + right, left_bad + right_bad


def _scores(
    ctx: Context, leads: LeadArrays, events: Mapping[str, np.ndarray] | None
) -> dict[str, np.ndarray]:
    """Scores, stage, grade, re-check time and reasons of `leads`, by column."""
    scorer = memoised(ctx.scorer)
    features = Features.build(scorer.config, leads.inputs, leads.ids, events)
    now = features.at(pd.Timestamp(ctx.as_of))
    arrays = scorer.score_arrays(now)
    bad = ~np.isfinite(np.asarray(arrays["win_probability"], dtype=float))
    if bad.any():
        raise ValueError(f"no win probability for {int(bad.sum())} lead(s)")
    scores = {"lead_id": leads.ids, "stage": arrays["stage"], "grade": arrays["grade"]}
    for column, digits in ROUNDING.items():
        scores[column] = np.round(np.asarray(arrays[column], dtype=float), digits)
    scores["next_check_at"] = next_checks(scorer, features, ctx.as_of, arrays["stage"])
    scores["reasons"] = np.full(len(leads), None, dtype=object)
    if ctx.explainer is not None:
        reasons = ctx.explainer(ctx.scorer, now, arrays)
        scores["reasons"] = objects(
            (json.dumps(r, sort_keys=True, default=str) for r in reasons), len(leads)
        )
    return scores


def _subset(leads: LeadArrays, rows: np.ndarray) -> LeadArrays:
    if len(rows) == len(leads):
        return leads
    pick = {k: v[rows] for k, v in leads.meta.items()}
    return LeadArrays(leads.ids[rows], pick, {k: v[rows] for k, v in leads.inputs.items()})


def _nulls(values: np.ndarray) -> np.ndarray:
    """Object values, None where missing (None, NaN): comparable with == elementwise."""
    out = values.astype(object)
    out[np.asarray(pd.isna(out), dtype=bool)] = None
    return out


def _same(
    known: np.ndarray, old: dict[str, np.ndarray], scores: dict[str, np.ndarray]
) -> np.ndarray:
    """Per scored lead: does lead_scores already hold exactly these numbers, stage and grade?"""
    same = known.copy()
    for column in SCORE_COLUMNS:
        a, b = old[column], scores[column]
        same &= (a == b) | (np.isnan(a) & np.isnan(b))
    for column in ("stage", "grade"):
        same &= (_nulls(old[column]) == _nulls(scores[column])).astype(bool)
    return same


def _direction(was: str | None, now: str) -> str:
    if was is None:
        return "new"
    return "up" if RANK[now] > RANK[was] else "down"


def _floats(values: np.ndarray) -> list[float | None]:
    return np.where(np.isnan(values), None, values).tolist()


def compare(
    ctx: Context,
    scores: dict[str, np.ndarray],
    stored: Stored,
    hashes: dict[str, str],
    stored_reasons: dict[str, str],
) -> tuple[Columns, Columns, dict[str, int]]:
    """Rows to upsert, stage history rows, and counts, for the scored leads. A lead whose row
    would not change (same scores, inputs, model, reasons, re-check time not passed) is left
    alone: rerunning at the same as_of writes nothing."""
    ids = scores["lead_id"]
    known, old = stored.aligned(ids)
    same = _same(known, old, scores)
    new_hash = objects((hashes[i] for i in ids), len(ids))
    old_reasons = objects((stored_reasons.get(i) for i in ids), len(ids))
    reasons = scores["reasons"]
    if ctx.explainer is None:  # same scores: the reasons stored earlier still hold
        reasons = np.where(same, old_reasons, reasons)
    check = old["next_check_at"]
    fresh = ~np.isnat(check) & (check > np.datetime64(ctx.as_of, "us"))
    untouched = (
        same
        & fresh
        & (old["input_hash"] == new_hash)
        & (old["model_version"] == ctx.version)
        & (old_reasons == reasons).astype(bool)
        & ~old["deleted"]
    )
    write = np.flatnonzero(~untouched)
    n = len(write)
    upserts: Columns = {
        "lead_id": ids[write].tolist(),
        "model_version": [ctx.version] * n,
        "scored_at": [ctx.as_of] * n,
        **{c: _floats(scores[c][write]) for c in SCORE_COLUMNS},
        "stage": scores["stage"][write].tolist(),
        "grade": [g or None for g in _nulls(scores["grade"][write]).tolist()],
        "reasons": reasons[write].tolist(),
        "input_hash": new_hash[write].tolist(),
        "next_check_at": scores["next_check_at"][write].tolist(),
        "run_id": [ctx.run_id] * n,
        "deleted_at": [None] * n,
    }
    was = np.where(known, old["stage"], None)
    moved = write[was[write] != scores["stage"][write]]
    stages = scores["stage"][moved]
    directions = [_direction(w, s) for w, s in zip(was[moved], stages, strict=True)]
    history: Columns = {
        "lead_id": ids[moved].tolist(),
        "from_stage": was[moved].tolist(),
        "to_stage": stages.tolist(),
        "direction": directions,
        "changed_at": [ctx.as_of] * len(moved),
        "win_probability": scores["win_probability"][moved].tolist(),
        "model_version": [ctx.version] * len(moved),
        "run_id": [ctx.run_id] * len(moved),
    }
    # a lead rewritten with the same scores (new re-check time, inputs or model) is written,
    # not unchanged: each scored lead counts once
    counts = {"written": n, "unchanged": len(ids) - n, "new": directions.count("new")}
    counts["moved_up"], counts["moved_down"] = directions.count("up"), directions.count("down")
    return upserts, history, counts


@dataclass(frozen=True)
class Checked:
    """Validated events, and the lead id text (validation's) of every event row read."""

    events: dict[str, np.ndarray]
    row_ids: np.ndarray


def evaluate(
    ctx: Context,
    names: Sequence[str],
    rows: list[tuple],
    raw_events: Mapping[str, np.ndarray] | None,
) -> tuple[dict[str, np.ndarray] | None, list[dict], Checked | None]:
    """Validate lead rows (values in the order of the column `names`) and their events, score
    the valid leads; errors as error-table rows."""
    cfg = ctx.scorer.config
    raw = columns(names, rows)
    leads, problems, ids = check_leads(cfg, raw)
    errors = _reject_rows(ctx, problems.rejects(raw, ids), "validation")
    checked = None
    if raw_events is not None:
        events, event_problems, event_ids = check_events(cfg, raw_events)
        errors += _reject_rows(ctx, event_problems.rejects(raw_events, event_ids), "events")
        checked = Checked(events, event_ids)
    if not len(leads):
        return None, errors, checked
    parts, failures = _guarded(
        lambda picked: _scores(
            ctx, _subset(leads, picked), None if checked is None else checked.events
        ),
        np.arange(len(leads)),
    )
    for i, reason in failures:
        row = json.dumps(
            {c: v[i : i + 1].tolist()[0] for c, v in leads.inputs.items()}, default=str
        )
        errors.append(_error(ctx, leads.ids[i], "scoring", "", reason, row))
    if not parts:
        return None, errors, checked
    return {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}, errors, checked


def process(
    ctx: Context, src: Sources, engine: sa.Engine, tables: Tables, chunk: Chunk
) -> ChunkResult:
    """Everything for one chunk except writing. A full run reads every event of the chunk's id
    range anyway and takes the event statistics of the input hash from them; an incremental
    run needs the hashes first, to pick the leads due, and asks the database for them."""
    whole = ctx.full and src.events is not None and src.event_ranges
    with engine.connect() as conn:
        rows = read_leads(conn, src, chunk)
        keys = [id_text(r[src.id_position]) for r in rows]
        all_ids = list(dict.fromkeys(k for k in keys if k is not None))
        stats = None if whole else event_stats(conn, src, chunk, all_ids, ctx.as_of)
        hashes = None if stats is None else row_hashes(src.used_positions, rows, keys, stats)
        stored = read_stored(conn, tables, all_ids)
        due = all_ids if hashes is None else due_ids(ctx, hashes, stored)
        due_set = set(due)
        stored_reasons = read_reasons(conn, tables, stored.with_reasons(due))
        picked = [r for r, k in zip(rows, keys, strict=True) if k is None or k in due_set]
        events = None
        if src.events is not None and picked:
            dense = whole or len(due) >= RANGE_SHARE * max(len(all_ids), 1)
            events = read_events(conn, src, chunk, None if dense and src.event_ranges else due)
    scores, errors, checked = None, [], None
    if picked:
        scores, errors, checked = evaluate(ctx, src.leads.columns, picked, events)
    if hashes is None:
        stats = {}
        if checked is not None and events is not None:
            stats = stats_of_events(
                checked.events, checked.row_ids, events["occurred_at"], ctx.as_of
            )
        hashes = row_hashes(src.used_positions, rows, keys, stats)
    found = Evaluated(all_ids, due, hashes, scores, errors)
    return settle(ctx, ChunkResult(chunk.index, chunk.hi, len(rows)), found, stored, stored_reasons)


@dataclass(frozen=True)
class Evaluated:
    """What a chunk's leads came to: every lead id read, those due, each id's input hash, the
    scores of the due leads that scored (by column) and the error rows."""

    ids: list[str]
    due: list[str]
    hashes: dict[str, str]
    scores: dict[str, np.ndarray] | None
    errors: list[dict]


def settle(
    ctx: Context,
    result: ChunkResult,
    found: Evaluated,
    stored: Stored,
    stored_reasons: dict[str, str],
) -> ChunkResult:
    """`result` with the rows to write and the counts: the one place both engines (this
    module's chunks, scoring/batch/spark's partitions) turn scores into lead_scores rows."""
    if found.scores is not None:
        result.upserts, result.history, counts = compare(
            ctx, found.scores, stored, found.hashes, stored_reasons
        )
    else:
        counts = {}
    evaluated = 0 if found.scores is None else len(found.scores["lead_id"])
    leads, due = len(found.ids), len(found.due)
    counts |= {"leads": leads, "evaluated": evaluated, "skipped": leads - due}
    counts |= {"failed": due - evaluated, "errors": len(found.errors)}
    result.errors, result.evaluated_ids, result.counts = found.errors, found.due, counts
    return result


def process_null_ids(ctx: Context, src: Sources, engine: sa.Engine) -> ChunkResult:
    """Lead and event rows without a lead id: always errors, reported once per run."""
    with engine.connect() as conn:
        rows = read_null_id_leads(conn, src)
        events = read_null_id_events(conn, src)
    result = ChunkResult(-1, None, len(rows))
    if rows:
        _, result.errors, _ = evaluate(ctx, src.leads.columns, rows, None)
    if events is not None and len(events["lead_id"]):
        _, problems, ids = check_events(ctx.scorer.config, events)
        result.errors += _reject_rows(ctx, problems.rejects(events, ids), "events")
    result.counts = {"errors": len(result.errors)}
    return result
