"""Held-out leads scored point in time along their history: at each event and daily (or once,
for data without an event table). The expensive part of a replay, done once per study."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.config import Config
from scoring.data.arrays import within_groups
from scoring.data.validation import Leads
from scoring.features import Features, build_features, to_days
from scoring.model.memo import RunMemo, memoised
from scoring.model.scorer import LeadScorer
from training.thresholds.outcome import OutcomeModel

HOURS = 1 / 24


@dataclass(frozen=True)
class Timeline:
    """Scores of each lead along its history, sorted by (lead, time)."""

    lead_ids: pd.Index
    lead: np.ndarray  # position of the lead in lead_ids, per moment
    at: np.ndarray  # moment, days since the epoch
    p: np.ndarray  # calibrated win probability at that moment
    fit: np.ndarray  # fit score (0-100; NaN when the model has no fit part)
    revenue: np.ndarray  # expected revenue at that moment (win probability x deal size)
    value: np.ndarray  # expected revenue of handing the lead off at that moment (outcome model)


def moments(
    created: np.ndarray, end: np.ndarray, events: pd.DataFrame, ids: pd.Index, step_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """(lead position, time) of every scoring moment: daily from creation to `end`, and at each
    event in between. Times are days since the epoch."""
    span = np.maximum(end - created, 0)
    ticks = np.where(np.isfinite(span), np.floor(np.nan_to_num(span) / step_days) + 1, 0)
    ticks = ticks.astype(int)  # a lead with no creation date has no moments
    lead = np.repeat(np.arange(len(ids)), ticks)
    at = created[lead] + within_groups(ticks) * step_days
    if len(events):
        ev_lead = ids.get_indexer(events["lead_id"])
        ev_at = to_days(events["occurred_at"])
        keep = ev_lead >= 0
        ev_lead, ev_at = ev_lead[keep], ev_at[keep]
        inside = (ev_at >= created[ev_lead]) & (ev_at <= end[ev_lead])
        lead = np.concatenate([lead, ev_lead[inside]])
        at = np.concatenate([at, ev_at[inside]])
    order = np.lexsort((at, lead))
    return lead[order], at[order]


def build_timeline(
    cfg: Config,
    scorer: LeadScorer,
    leads: Leads,
    events: pd.DataFrame | None,
    horizon_days: float = 120.0,
    step_days: float = 1.0,
    chunk: int = 500,
    outcome: OutcomeModel | None = None,
) -> Timeline:
    """Score every lead at every moment of its first `horizon_days` (until it closed), with the
    model (the scores a policy acts on) and the outcome model (what a handoff then is worth;
    the model itself when there is none). The leads' features are built once and projected to
    each moment; a booster whose inputs stay the same along a lead's moments (fit, deal size)
    predicts once per lead (`RunMemo`)."""
    meta = leads.meta
    created = to_days(meta["created_at"])
    end = np.fmin(created + horizon_days, to_days(meta["closed_at"]))
    if events is None:
        events = pd.DataFrame({"lead_id": [], "event_type": [], "occurred_at": []})
    lead, at = moments(created, end, events, meta.index, step_days)
    columns = {name: np.empty(len(lead)) for name in ("p", "fit", "revenue", "value")}
    features = Features.of_frame(cfg, leads.inputs, events)
    scorer = memoised(scorer, RunMemo)
    if outcome is not None:
        outcome = dataclasses.replace(outcome, scorer=memoised(outcome.scorer, RunMemo))
    for lo in range(0, len(meta), chunk):
        rows = np.arange(*np.searchsorted(lead, [lo, lo + chunk]))
        stamps = to_timestamps(at[rows]).to_numpy()
        now = features.subset(lead[rows]).at(stamps)
        for name, values in _scores(scorer, outcome, now):
            columns[name][rows] = values
    return Timeline(meta.index, lead, at, **columns)


def _scores(
    scorer: LeadScorer, outcome: OutcomeModel | None, features: Mapping[str, np.ndarray]
) -> list[tuple[str, np.ndarray]]:
    scores = scorer.score_arrays(features)
    revenue = scores["expected_revenue"]
    value = outcome.value(features, revenue) if outcome is not None else revenue
    return [
        ("p", scores["win_probability"]),
        ("fit", scores["fit_score"]),
        ("revenue", revenue),
        ("value", value),
    ]


def to_timestamps(days: np.ndarray) -> pd.DatetimeIndex:
    """Days since the epoch -> timestamps, rounded to the microsecond: a moment taken at an event
    must not land a float's width before it (the point-in-time cut would drop the event)."""
    return pd.to_datetime(np.round(days * 86_400e6).astype(np.int64), unit="us")


def first_moment(tl: Timeline, mask: np.ndarray) -> np.ndarray:
    """Per lead, the index of its first moment where `mask` holds (-1 if never): moments are
    sorted by (lead, time), so the smallest index is the earliest."""
    out = np.full(len(tl.lead_ids), len(tl.at))
    np.minimum.at(out, tl.lead[mask], np.flatnonzero(mask))
    return np.where(out < len(tl.at), out, -1)


def static_timeline(
    cfg: Config,
    scorer: LeadScorer,
    leads: Leads,
    events: pd.DataFrame | None,
    as_of: pd.Series,
    outcome: OutcomeModel | None = None,
) -> Timeline:
    """One moment per lead: its scoring moment (no event log to replay)."""
    features = build_features(cfg, leads.inputs, events, as_of)
    n = len(leads.meta)
    at = to_days(as_of.reindex(leads.meta.index))
    return Timeline(leads.meta.index, np.arange(n), at, **dict(_scores(scorer, outcome, features)))
