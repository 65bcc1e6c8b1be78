"""Rescoring one chunk of leads: read, decide what to evaluate, validate, featurise, score,
project the stage forward, and compare with what `lead_scores` holds.

Runs in a worker process; the result is the rows to write, applied by the parent in one
transaction together with the run's progress (scoring/rescore_write.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.features import build_features
from scoring.model import STAGES, LeadScorer
from scoring.rescore_project import memoised, next_checks
from scoring.rescore_read import (
    Chunk,
    Sources,
    event_stats,
    id_text,
    lead_frame,
    read_events,
    read_leads,
    read_null_id_leads,
    read_reasons,
    read_stored,
    row_hashes,
)
from scoring.rescore_tables import Tables
from scoring.validation import validate_events, validate_leads

# a lead is evaluated with its events when at least this share of the chunk is due: one range
# read of the events beats many IN lists
RANGE_SHARE = 0.25
SCORE_COLUMNS = ("fit_score", "intent_score", "win_probability", "expected_revenue")
MAX_FAILURES = 50  # single-lead scoring failures per chunk before the run stops
ROUNDING = {"fit_score": 1, "intent_score": 1, "win_probability": 6, "expected_revenue": 2}
RANK = {stage: i for i, stage in enumerate(STAGES)}

Explainer = Callable[[LeadScorer, pd.DataFrame, Mapping[str, np.ndarray]], list[dict]]


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
    upserts: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    evaluated_ids: list[str] = field(default_factory=list)  # their old errors are replaced
    counts: dict[str, int] = field(default_factory=dict)


def _due(ctx: Context, hashes: dict[str, str], stored: pd.DataFrame) -> list[str]:
    """Lead ids to evaluate: everything in a full run; otherwise new leads, changed inputs, a
    different model version, a passed re-check time, or reasons asked for and missing."""
    ids = list(hashes)
    if ctx.full:
        return ids
    known = stored.reindex(ids)
    due = known["input_hash"].isna().to_numpy().copy()
    due |= known["input_hash"].to_numpy() != np.array([hashes[i] for i in ids], dtype=object)
    due |= (known["model_version"] != ctx.version).to_numpy()
    check = pd.to_datetime(known["next_check_at"])
    due |= (check.isna() | (check <= pd.Timestamp(ctx.as_of))).to_numpy()
    if ctx.explainer is not None:
        due |= ~known["has_reasons"].eq(True).to_numpy()
    return [i for i, d in zip(ids, due, strict=True) if d]


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
    func: Callable[[pd.Index], pd.DataFrame], ids: pd.Index, budget: list[int] | None = None
) -> tuple[list[pd.DataFrame], list[tuple[str, str]]]:
    """Run `func` on `ids`; when it raises, split the ids in halves until each failure is pinned
    to one lead. Returns the frames that worked and (lead id, error) for the leads that failed.
    More than MAX_FAILURES single-lead failures in a chunk raise SystemicError."""
    budget = budget if budget is not None else [MAX_FAILURES]
    try:
        return [func(ids)], []
    except Exception as exc:  # one lead's failure must not stop the run
        if len(ids) == 1:
            budget[0] -= 1
            if budget[0] < 0:
                raise SystemicError(f"scoring fails for lead after lead: {exc!r}") from exc
            return [], [(str(ids[0]), f"{type(exc).__name__}: {exc}")]
    half = len(ids) // 2
    left, left_bad = _guarded(func, ids[:half], budget)
    right, right_bad = _guarded(func, ids[half:], budget)
    return left + right, left_bad + right_bad


def _scores(ctx: Context, inputs: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    scorer = memoised(ctx.scorer)
    features = build_features(scorer.config, inputs, events, pd.Timestamp(ctx.as_of))
    arrays = scorer.score_arrays(features)
    scores = pd.DataFrame(dict(arrays), index=features.index)
    bad = ~np.isfinite(scores["win_probability"].to_numpy(dtype=float))
    if bad.any():
        raise ValueError(f"no win probability for {int(bad.sum())} lead(s)")
    for column, digits in ROUNDING.items():
        scores[column] = scores[column].round(digits)
    stage = scores["stage"].to_numpy(dtype=object)
    scores["next_check_at"] = next_checks(scorer, inputs, events, ctx.as_of, stage)
    scores["reasons"] = None
    if ctx.explainer is not None:
        reasons = ctx.explainer(ctx.scorer, features, arrays)
        scores["reasons"] = [json.dumps(r, sort_keys=True, default=str) for r in reasons]
    return scores


def _nulls(values: pd.Series) -> np.ndarray:
    """Object values, None where missing (None, NaN, NA): comparable with == elementwise."""
    values = values.astype(object)
    return values.where(values.notna(), None).to_numpy(dtype=object)


def _same(old: pd.DataFrame, scores: pd.DataFrame) -> np.ndarray:
    """Per scored lead: does lead_scores already hold exactly these numbers, stage and grade?
    `old` is the stored rows reindexed like `scores`."""
    same = old["input_hash"].notna().to_numpy().copy()
    for column in SCORE_COLUMNS:
        a = pd.to_numeric(old[column], errors="coerce").to_numpy(dtype=float)
        b = scores[column].to_numpy(dtype=float)
        same &= (a == b) | (np.isnan(a) & np.isnan(b))
    for column in ("stage", "grade"):
        same &= (_nulls(old[column]) == _nulls(scores[column])).astype(bool)
    return same


def _direction(was: str | None, now: str) -> str:
    if was is None:
        return "new"
    return "up" if RANK[now] > RANK[was] else "down"


def compare(
    ctx: Context, scores: pd.DataFrame, stored: pd.DataFrame, hashes: dict[str, str]
) -> tuple[list[dict], list[dict], dict[str, int]]:
    """Rows to upsert, stage history rows, and counts, for the scored leads. A lead whose row
    would not change (same scores, inputs, model, reasons, re-check time not passed) is left
    alone: rerunning at the same as_of writes nothing."""
    ids = list(scores.index)
    old = stored.reindex(scores.index)
    same = _same(old, scores)
    known = old["input_hash"].notna().to_numpy()
    new_hash = [hashes[i] for i in ids]
    old_reasons = _nulls(old["reasons"])
    reasons = _nulls(scores["reasons"])
    if ctx.explainer is None:  # same scores: the reasons stored earlier still hold
        reasons = np.where(same, old_reasons, reasons)
    check = pd.to_datetime(old["next_check_at"]).to_numpy(dtype="datetime64[us]")
    fresh = ~np.isnat(check) & (check > np.datetime64(ctx.as_of, "us"))
    untouched = (
        same
        & fresh
        & (old["input_hash"].to_numpy(dtype=object) == np.array(new_hash, dtype=object))
        & (old["model_version"].to_numpy(dtype=object) == ctx.version)
        & (old_reasons == reasons).astype(bool)
    )
    values = {c: scores[c].to_numpy(dtype=float) for c in SCORE_COLUMNS}
    stage = scores["stage"].to_numpy(dtype=object)
    grade = _nulls(scores["grade"])
    was = [
        s if k else None for s, k in zip(old["stage"].to_numpy(dtype=object), known, strict=True)
    ]
    checks = scores["next_check_at"].tolist()
    upserts, history = [], []
    counts = dict.fromkeys(("written", "new", "moved_up", "moved_down"), 0)
    counts["unchanged"] = int(same.sum())
    for i in np.flatnonzero(~untouched):
        lead_id = ids[i]
        upserts.append(
            {
                "lead_id": lead_id,
                "model_version": ctx.version,
                "scored_at": ctx.as_of,
                **{c: None if np.isnan(v[i]) else float(v[i]) for c, v in values.items()},
                "stage": stage[i],
                "grade": grade[i] or None,
                "reasons": reasons[i],
                "input_hash": new_hash[i],
                "next_check_at": checks[i],
                "run_id": ctx.run_id,
            }
        )
        if was[i] == stage[i]:
            continue
        direction = _direction(was[i], stage[i])
        counts[{"new": "new", "up": "moved_up", "down": "moved_down"}[direction]] += 1
        history.append(
            {
                "lead_id": lead_id,
                "from_stage": was[i],
                "to_stage": stage[i],
                "direction": direction,
                "changed_at": ctx.as_of,
                "win_probability": float(values["win_probability"][i]),
                "model_version": ctx.version,
                "run_id": ctx.run_id,
            }
        )
    counts["written"] = len(upserts)
    return upserts, history, counts


def evaluate(
    ctx: Context, src: Sources, rows: list[tuple], events: pd.DataFrame | None
) -> tuple[pd.DataFrame, list[dict]]:
    """Validate lead rows and their events, score the valid leads; errors as error-table rows."""
    cfg = ctx.scorer.config
    leads, rejects = validate_leads(cfg, lead_frame(src, rows))
    errors = _reject_rows(ctx, rejects, "validation")
    if events is not None:
        events, event_rejects = validate_events(cfg, events)
        errors += _reject_rows(ctx, event_rejects, "events")
        events = events[events["lead_id"].isin(leads.inputs.index)]
    if not len(leads.inputs):
        return pd.DataFrame(), errors

    def score(ids: pd.Index) -> pd.DataFrame:
        part = events[events["lead_id"].isin(ids)] if events is not None else None
        return _scores(ctx, leads.inputs.loc[ids], part)

    frames, failures = _guarded(score, leads.inputs.index)
    for lead_id, reason in failures:
        row = json.dumps(leads.inputs.loc[lead_id].astype(object).to_dict(), default=str)
        errors.append(_error(ctx, lead_id, "scoring", "", reason, row))
    return (pd.concat(frames) if frames else pd.DataFrame()), errors


def process(
    ctx: Context, src: Sources, engine: sa.Engine, tables: Tables, chunk: Chunk
) -> ChunkResult:
    """Everything for one chunk except writing."""
    with engine.connect() as conn:
        rows = read_leads(conn, src, chunk)
        all_ids = list(dict.fromkeys(k for r in rows if (k := id_text(r[src.id_position]))))
        stats = event_stats(conn, src, chunk, all_ids, ctx.as_of)
        hashes = row_hashes(src, rows, stats)
        stored = read_stored(conn, tables, all_ids)
        due = _due(ctx, hashes, stored)
        due_set = set(due)
        with_reasons = stored.index[stored["has_reasons"]]
        stored["reasons"] = pd.Series(
            read_reasons(conn, tables, [i for i in with_reasons if i in due_set]), dtype=object
        )
        picked = [r for r in rows if (k := id_text(r[src.id_position])) is None or k in due_set]
        events = None
        if src.events is not None and picked:
            dense = len(due) >= RANGE_SHARE * max(len(all_ids), 1)
            events = read_events(conn, src, chunk, None if dense and src.event_ranges else due)
    result = ChunkResult(chunk.index, chunk.hi, len(rows))
    scores, errors = evaluate(ctx, src, picked, events) if picked else (pd.DataFrame(), [])
    upserts, history, counts = compare(ctx, scores, stored, hashes) if len(scores) else ([], [], {})
    counts["unchanged"] = counts.get("unchanged", 0) + len(all_ids) - len(due)
    counts["evaluated"] = len(scores)
    counts["errors"] = len(errors)
    result.upserts, result.history, result.errors = upserts, history, errors
    result.evaluated_ids = due
    result.counts = counts
    return result


def process_null_ids(ctx: Context, src: Sources, engine: sa.Engine) -> ChunkResult:
    """Lead rows without an id: always errors, reported once per run."""
    with engine.connect() as conn:
        rows = read_null_id_leads(conn, src)
    result = ChunkResult(-1, None, len(rows))
    if rows:
        _, result.errors = evaluate(ctx, src, rows, None)
    result.counts = {"errors": len(result.errors)}
    return result
