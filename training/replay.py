"""Replay a handoff policy over held-out leads: score each lead point-in-time along its history
(at each event and daily), hand it off at the first crossing, and count what it earns and costs.

The replay scores every lead once per moment (`build_timeline`, the expensive part); a policy is
then evaluated on the stored timeline in milliseconds (`evaluate_policy`), so a threshold study
can try hundreds of policies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.config import Config, CostModel
from scoring.features import build_features, to_days
from scoring.model import LeadScorer
from scoring.validation import Leads

HOURS = 1 / 24


@dataclass(frozen=True)
class Timeline:
    """Scores of each lead along its history, sorted by (lead, time)."""

    lead_ids: pd.Index
    lead: np.ndarray  # position of the lead in lead_ids, per moment
    at: np.ndarray  # moment, days since the epoch
    p: np.ndarray  # calibrated win probability at that moment
    fit: np.ndarray  # fit score (0-100; NaN when the model has no fit part)


def moments(
    created: np.ndarray, end: np.ndarray, events: pd.DataFrame, ids: pd.Index, step_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """(lead position, time) of every scoring moment: daily from creation to `end`, and at each
    event in between. Times are days since the epoch."""
    ticks = np.floor(np.maximum(end - created, 0) / step_days).astype(int) + 1
    lead = np.repeat(np.arange(len(ids)), ticks)
    offset = np.arange(len(lead)) - np.repeat(np.cumsum(ticks) - ticks, ticks)
    at = created[lead] + offset * step_days
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
) -> Timeline:
    """Score every lead at every moment of its first `horizon_days` (until it closed)."""
    meta = leads.meta
    created = to_days(meta["created_at"])
    end = np.fmin(created + horizon_days, to_days(meta["closed_at"]))
    if events is None:
        events = pd.DataFrame({"lead_id": [], "event_type": [], "occurred_at": []})
    lead, at = moments(created, end, events, meta.index, step_days)
    p, fit = np.empty(len(lead)), np.empty(len(lead))
    by_lead = events.groupby("lead_id", sort=False).indices if len(events) else {}
    for lo in range(0, len(meta), chunk):
        rows = np.flatnonzero((lead >= lo) & (lead < lo + chunk))
        snap = pd.Index([f"{i}" for i in rows], name="lead_id")
        inputs = leads.inputs.iloc[lead[rows]].set_axis(snap)
        ev = _events_per_moment(events, by_lead, meta.index, lead[rows], snap)
        as_of = pd.Series(pd.to_datetime(at[rows] * 86_400, unit="s"), index=snap)
        scores = scorer.score(build_features(cfg, inputs, ev, as_of))
        p[rows], fit[rows] = scores["win_probability"].to_numpy(), scores["fit_score"].to_numpy()
    return Timeline(meta.index, lead, at, p, fit)


def _events_per_moment(
    events: pd.DataFrame, by_lead: dict, ids: pd.Index, lead: np.ndarray, snap: pd.Index
) -> pd.DataFrame:
    """Each moment gets its lead's events, keyed by the moment's id (the point-in-time cut in
    build_features then drops those after the moment)."""
    parts_idx, parts_snap = [], []
    for pos, snap_id in zip(lead, snap, strict=True):
        idx = by_lead.get(ids[pos])
        if idx is not None:
            parts_idx.append(idx)
            parts_snap.append(np.full(len(idx), snap_id, dtype=object))
    if not parts_idx:
        return events.iloc[:0]
    picked = events.iloc[np.concatenate(parts_idx)]
    return picked.assign(lead_id=np.concatenate(parts_snap))


def first_crossing(tl: Timeline, mask: np.ndarray) -> np.ndarray:
    """Per lead, the first moment where `mask` holds (NaN if never)."""
    out = np.full(len(tl.lead_ids), np.inf)
    np.minimum.at(out, tl.lead[mask], tl.at[mask])
    return np.where(np.isfinite(out), out, np.nan)


@dataclass(frozen=True)
class Policy:
    mql: float  # win probability at which a lead goes to an SDR for review (MQL)
    sql: float  # win probability at which it goes straight to an AE (SQL)
    min_fit: float = 0.0  # no handoff below this fit score


@dataclass(frozen=True)
class Outcome:
    net_value: float
    revenue: float
    sdr_cost: float
    ae_cost: float
    mqls: int
    sqls: int
    weekly: pd.DataFrame  # week -> sdr_load, ae_load, net_value

    @property
    def peak_sdr_load(self) -> float:
        return float(self.weekly["sdr_load"].max()) if len(self.weekly) else 0.0

    @property
    def peak_ae_load(self) -> float:
        return float(self.weekly["ae_load"].max()) if len(self.weekly) else 0.0


ValueFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def realised_value(costs: CostModel, revenue: np.ndarray, ready: np.ndarray) -> ValueFn:
    """Value model from history alone: a won lead is worth its revenue if contacted when ready,
    less `premature_penalty` before it was ready, decaying with `ready_half_life_hours` after.
    Returns (value if contacted at t, whether t was before ready)."""

    def value(contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        early = contact < ready
        late = np.maximum(contact - ready, 0.0)
        decay = np.exp2(-late / (costs.ready_half_life_hours * HOURS))
        worth = np.where(early, 1 - costs.premature_penalty, decay) * revenue
        return np.where(revenue > 0, worth, 0.0), early | (revenue <= 0)

    return value


def evaluate_policy(
    tl: Timeline, costs: CostModel, policy: Policy, value: ValueFn, never: np.ndarray
) -> Outcome:
    """Net value of `policy`: value of each handed-off lead at its contact time, `never` for the
    rest, minus SDR and AE time; weekly load of both teams."""
    eligible = ~(tl.fit < policy.min_fit)  # NaN fit (no fit model) is eligible
    t_mql = first_crossing(tl, eligible & (tl.p >= policy.mql))
    t_sql = first_crossing(tl, eligible & (tl.p >= policy.sql))
    direct = ~np.isnan(t_sql) & ~(t_sql > t_mql)  # crossed SQL at its first crossing: AE lane
    via_sdr = ~np.isnan(t_mql) & ~direct
    handed = direct | via_sdr
    contact = np.where(
        direct, t_sql + costs.ae_response_hours * HOURS, t_mql + costs.sdr_response_hours * HOURS
    )
    worth, not_ready = value(np.where(handed, contact, np.inf))
    worth = np.where(handed, worth, never)
    passed_on = np.where(not_ready, 1 - costs.sdr_reject_rate, 1.0)  # SDR passes it to an AE
    sdr_cost = via_sdr * costs.sdr_cost_per_mql
    ae_cost = (direct + via_sdr * passed_on) * costs.ae_cost_per_sql
    week = pd.to_datetime(np.where(direct, t_sql, t_mql) * 86_400, unit="s", errors="coerce")
    frame = pd.DataFrame(
        {
            "week": week.to_period("W").start_time,
            "sdr_load": via_sdr.astype(float),
            "ae_load": direct + via_sdr * passed_on,
            "net_value": worth - sdr_cost - ae_cost,
        }
    )[handed]
    weekly = frame.groupby("week").sum().sort_index()
    return Outcome(
        net_value=float(worth.sum() - sdr_cost.sum() - ae_cost.sum()),
        revenue=float(worth.sum()),
        sdr_cost=float(sdr_cost.sum()),
        ae_cost=float(ae_cost.sum()),
        mqls=int(via_sdr.sum()),
        sqls=int(direct.sum()),
        weekly=weekly,
    )


def ready_moments(cfg: Config, leads: Leads, events: pd.DataFrame | None) -> np.ndarray:
    """When each lead became ready, as history shows it: its first hand-raise, else the first
    funnel stage it reached, else its creation (days since the epoch)."""
    meta = leads.meta
    ready = to_days(meta["created_at"])
    for stage in reversed(list(cfg.leads.funnel)):
        reached = to_days(meta[f"{stage}_at"])
        ready = np.where(np.isnan(reached), ready, reached)
    if events is not None and cfg.events is not None and cfg.events.hand_raise and len(events):
        raised = events[events["event_type"].isin(cfg.events.hand_raise)]
        first = raised.groupby("lead_id")["occurred_at"].min().reindex(meta.index)
        ready = np.where(first.isna().to_numpy(), ready, to_days(first))
    return ready
