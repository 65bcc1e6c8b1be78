"""Scoring the leads of several requests in one pass: validation, the one feature function,
the model, reasons; leads the validation refuses come back as a client error naming the field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import BaseModel

from scoring.data.load import event_arrays_from_records, lead_arrays_from_records
from scoring.features import feature_arrays
from scoring.model.reasons import explain as explain_leads
from scoring.model.reasons import scores_and_reasons
from scoring.model.scorer import LeadScorer
from scoring.serving import schema


class RejectedLeads(ValueError):
    """Leads the validation refused (a client mistake): answered 422 with the fields."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{p['loc']}: {p['msg']}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Job:
    """One request: its leads (validated pydantic models), as_of and options."""

    leads: Sequence[BaseModel]
    as_of: datetime | None
    explain: bool
    top: int


def _utc_naive(stamp: datetime | None) -> np.datetime64:
    stamp = stamp or datetime.now(UTC)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(stamp, "us")


def _nan_to_none(value: float) -> float | None:
    return None if value != value else float(value)


def score_jobs(scorer: LeadScorer, version: str, jobs: Sequence[Job]) -> list[list[dict]]:
    """Score the leads of several requests in one pass; one list of scored leads per request.

    Leads get positional ids inside the batch, so the same CRM id may come twice (two webhooks
    for one lead) and every lead is scored on its own."""
    cfg = scorer.config
    leads = [lead for job in jobs for lead in job.leads]
    positions = [str(i) for i in range(len(leads))]
    records, events = [], []
    for pos, lead in zip(positions, leads, strict=True):
        records.append(schema.record(lead) | {cfg.leads.id: pos})
        if cfg.events is not None:
            spec = cfg.events
            events += [
                {spec.lead_id: pos, spec.type: e.type, spec.timestamp: e.timestamp}
                for e in lead.events  # type: ignore[attr-defined]
            ]
    arrays, problems, _ = lead_arrays_from_records(cfg, records)
    ev_arrays = None
    if cfg.events is not None:
        ev_arrays, ev_problems, ev_ids = event_arrays_from_records(cfg, events)
        _refuse(ev_problems.messages(), [int(ev_ids[i]) for i in range(len(ev_ids))], jobs)
    _refuse(problems.messages(), list(range(len(leads))), jobs)
    stamps = [_utc_naive(job.as_of) for job in jobs]
    as_of = np.array([s for job, s in zip(jobs, stamps, strict=True) for _ in job.leads])
    features = feature_arrays(cfg, arrays.inputs, arrays.ids, ev_arrays, as_of)
    wanted = np.array([job.explain for job in jobs for _ in job.leads], dtype=bool)
    top = max(job.top for job in jobs)
    reasons: list[dict | None] = [None] * len(leads)
    if wanted.all():  # the usual case: scores and reasons in one pass
        scores, found = scores_and_reasons(scorer, features, top)
        reasons = list(found)
    else:
        scores = scorer.score_arrays(features)
        if wanted.any():
            rows = np.flatnonzero(wanted)
            subset = {k: v[rows] for k, v in features.items()}
            sub_scores = {k: v[rows] for k, v in scores.items()}
            for row, why in zip(rows, explain_leads(scorer, subset, top, sub_scores), strict=True):
                reasons[row] = why
    out: list[list[dict]] = []
    i = 0
    for job, stamp in zip(jobs, stamps, strict=True):
        scored = []
        for lead in job.leads:
            why = reasons[i]
            if why is not None and job.top < top:
                why = why | {
                    k: why[k][: job.top] for k in ("positive", "negative", "fit", "intent")
                }
            scored.append(
                {
                    "lead_id": getattr(lead, lead.__id_field__),  # type: ignore[attr-defined]
                    "fit_score": _nan_to_none(scores["fit_score"][i]),
                    "intent_score": _nan_to_none(scores["intent_score"][i]),
                    "win_probability": float(scores["win_probability"][i]),
                    "expected_revenue": float(scores["expected_revenue"][i]),
                    "stage": scores["stage"][i],
                    "grade": scores["grade"][i],
                    "model_version": version,
                    "as_of": stamp.item(),
                    "reasons": why,
                }
            )
            i += 1
        out.append(scored)
    return out


def _refuse(messages: list[tuple[int, str, str]], lead_of_row: list[int], jobs: Sequence[Job]):
    """Raise RejectedLeads naming the request's lead index and field (the job is re-run alone
    by the batcher, so the index is the one the client sent)."""
    if not messages:
        return
    problems = []
    for row, fields, reason in messages:
        lead = lead_of_row[row]
        problems.append({"loc": ["leads", lead, fields], "msg": reason})
    raise RejectedLeads(problems)
