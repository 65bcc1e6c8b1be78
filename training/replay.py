"""Replay a handoff policy over held-out leads: score each lead point-in-time along its history
(at each event and daily), hand it off at the first crossing, and count what it earns and costs.

The replay scores every lead once per moment (`build_timeline`, the expensive part); a policy is
then evaluated on the stored timeline in milliseconds (`evaluate_policy`), so a threshold study
can try hundreds of policies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

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
    revenue: np.ndarray  # expected revenue at that moment (win probability x deal size)


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
    p, fit, revenue = np.empty(len(lead)), np.empty(len(lead)), np.empty(len(lead))
    by_lead = events.groupby("lead_id", sort=False).indices if len(events) else {}
    for lo in range(0, len(meta), chunk):
        rows = np.flatnonzero((lead >= lo) & (lead < lo + chunk))
        snap = pd.Index([f"{i}" for i in rows], name="lead_id")
        inputs = leads.inputs.iloc[lead[rows]].set_axis(snap)
        ev = _events_per_moment(events, by_lead, meta.index, lead[rows], snap)
        as_of = pd.Series(to_timestamps(at[rows]), index=snap)
        scores = scorer.score(build_features(cfg, inputs, ev, as_of))
        p[rows] = scores["win_probability"].to_numpy()
        fit[rows] = scores["fit_score"].to_numpy()
        revenue[rows] = scores["expected_revenue"].to_numpy()
    return Timeline(meta.index, lead, at, p, fit, revenue)


def to_timestamps(days: np.ndarray) -> pd.DatetimeIndex:
    """Days since the epoch -> timestamps, rounded to the microsecond: a moment taken at an event
    must not land a float's width before it (the point-in-time cut would drop the event)."""
    return pd.to_datetime(np.round(days * 86_400e6).astype(np.int64), unit="us")


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
    """Handoff cut-offs, on expected revenue like the model's `Thresholds`."""

    mql: float  # expected revenue at which a lead goes to an SDR for review (MQL)
    sql: float  # expected revenue at which it goes straight to an AE (SQL)
    min_fit: float = 0.0  # no handoff below this fit score


@dataclass(frozen=True)
class Outcome:
    net_value: float
    revenue: float
    sdr_cost: float
    ae_cost: float
    mqls: int
    sqls: int
    ae_load: float  # SQLs the AEs work: direct ones plus MQLs the SDRs pass on
    handoffs: pd.DataFrame  # one row per handed-off lead: at, sdr_load, ae_load, net_value

    @cached_property
    def weekly(self) -> pd.DataFrame:
        """week -> sdr_load, ae_load, net_value of the replayed leads (unscaled)."""
        frame = self.handoffs
        week = pd.to_datetime(frame["at"] * 86_400, unit="s").dt.to_period("W").dt.start_time
        return frame.drop(columns="at").groupby(week.rename("week")).sum().sort_index()


ValueFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def realised_value(costs: CostModel, revenue: np.ndarray, ready: np.ndarray) -> ValueFn:
    """Value model from history alone: a won lead is worth its revenue if contacted when ready,
    less `premature_penalty` before it was ready, decaying with `ready_half_life_hours` after.
    Returns (value if contacted at t, whether t was before ready)."""

    def value(contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        early = ~(contact >= ready)  # a lead that never showed it was ready is never ready
        late = np.fmax(contact - ready, 0.0)
        decay = np.exp2(-late / (costs.ready_half_life_hours * HOURS))
        worth = np.where(early, 1 - costs.premature_penalty, decay) * revenue
        return np.where(revenue > 0, worth, 0.0), early

    return value


def evaluate_policy(
    tl: Timeline,
    costs: CostModel,
    policy: Policy,
    value: ValueFn,
    never: np.ndarray,
    score: np.ndarray | None = None,
) -> Outcome:
    """Net value of `policy`: value of each handed-off lead at its contact time, `never` for the
    rest, minus SDR and AE time; weekly load of both teams. The cut-offs apply to `score`
    (default: expected revenue; a baseline may pass the win probability)."""
    score = tl.revenue if score is None else score
    eligible = ~(tl.fit < policy.min_fit)  # NaN fit (no fit model) is eligible
    t_mql = first_crossing(tl, eligible & (score >= policy.mql))
    t_sql = first_crossing(tl, eligible & (score >= policy.sql))
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
    ae_load = direct + via_sdr * passed_on
    handoffs = pd.DataFrame(
        {
            "at": np.where(direct, t_sql, t_mql),
            "sdr_load": via_sdr.astype(float),
            "ae_load": ae_load,
            "net_value": worth - sdr_cost - ae_cost,
        }
    )[handed]
    return Outcome(
        net_value=float(worth.sum() - sdr_cost.sum() - ae_cost.sum()),
        revenue=float(worth.sum()),
        sdr_cost=float(sdr_cost.sum()),
        ae_cost=float(ae_cost.sum()),
        mqls=int(via_sdr.sum()),
        sqls=int(direct.sum()),
        ae_load=float(ae_load.sum()),
        handoffs=handoffs,
    )


@dataclass(frozen=True)
class Load:
    """Average weekly handoffs the policy sends each team, scaled to the whole lead flow."""

    sdr_per_week: float
    ae_per_week: float


@dataclass(frozen=True)
class Replay:
    """Held-out leads ready to evaluate any policy: their timeline, what each is worth when
    contacted at a given moment, and how to scale their handoffs to the team's weekly load.

    With `ready` (event-log data) a lead's value depends on when it is contacted (the cost
    model's half-life and premature penalty); without it (snapshot data: one score per lead, no
    timeline) a handed-off lead is worth its realised revenue whenever contacted: the static
    expected-value fallback. `truth` replaces the history-based value model (the synthetic
    world's ground truth, for the proof)."""

    timeline: Timeline
    costs: CostModel
    revenue: np.ndarray  # realised revenue per lead (0 when lost)
    ready: np.ndarray | None  # when each lead became ready (days since the epoch)
    contacted: np.ndarray | None  # when the team first contacted it in the history (or NaN)
    weeks: float  # weeks of lead creation the replayed leads span
    scale: float  # leads created in the database over that span / replayed leads
    truth: ValueFn | None = None

    @property
    def mode(self) -> str:
        return "truth" if self.truth else ("timeline" if self.ready is not None else "static")

    def value_model(self) -> tuple[ValueFn, np.ndarray]:
        """(value if contacted at t, value if never handed off) per lead."""
        if self.truth is not None:
            return self.truth, np.zeros(len(self.revenue))
        never = self.revenue * self.costs.nurture_value_share
        if self.ready is None:
            return static_value(self.revenue), never
        on_time = self.revenue * self.timing_credit()
        return realised_value(self.costs, on_time, self.ready), never

    def timing_credit(self) -> np.ndarray:
        """How much more each lead was worth than history made of it: 1 / the share of its value
        the history's contact time kept under the cost model (a won lead called a day late, with
        a 24-hour half-life, was worth twice what it brought), capped at `max_timing_credit`.
        Without it the replay could never credit a policy with more than the history earned."""
        if self.ready is None or self.contacted is None:
            return np.ones(len(self.revenue))
        known = np.isfinite(self.contacted)
        kept, _ = realised_value(self.costs, np.ones(len(self.revenue)), self.ready)(
            np.where(known, self.contacted, self.ready)
        )
        return 1.0 / np.clip(kept, 1.0 / self.costs.max_timing_credit, 1.0)

    def evaluate(self, policy: Policy, score: np.ndarray | None = None) -> Outcome:
        value, never = self.value_model()
        return evaluate_policy(self.timeline, self.costs, policy, value, never, score)

    def load(self, outcome: Outcome) -> Load:
        per_week = self.scale / max(self.weeks, 1.0)
        return Load(outcome.mqls * per_week, outcome.ae_load * per_week)

    def with_costs(self, costs: CostModel) -> Replay:
        return replace(self, costs=costs)

    def under_truth(self, value: ValueFn) -> Replay:
        """The same leads and moments, valued by a ground-truth response model."""
        return replace(self, truth=value)


def static_timeline(
    cfg: Config, scorer: LeadScorer, leads: Leads, events: pd.DataFrame | None, as_of: pd.Series
) -> Timeline:
    """One moment per lead: its scoring moment (no event log to replay)."""
    scores = scorer.score(build_features(cfg, leads.inputs, events, as_of))
    n = len(leads.meta)
    return Timeline(
        leads.meta.index,
        np.arange(n),
        to_days(as_of.reindex(leads.meta.index)),
        scores["win_probability"].to_numpy(),
        scores["fit_score"].to_numpy(),
        scores["expected_revenue"].to_numpy(),
    )


def _flow(all_created: np.ndarray, created: np.ndarray) -> tuple[float, float]:
    """(weeks the replayed leads span, leads created in that span / replayed leads)."""
    if np.isnan(created).all():
        return 1.0, 1.0
    lo, hi = np.nanmin(created), np.nanmax(created)
    inside = ((all_created >= lo) & (all_created <= hi)).sum()
    return max((hi - lo) / 7.0, 1.0), max(inside / len(created), 1.0)


def build_replay(
    cfg: Config,
    scorer: LeadScorer,
    leads: Leads,
    events: pd.DataFrame | None,
    held_out: pd.Index,
    as_of: pd.Series,
    horizon_days: float = 120.0,
) -> Replay:
    """The held-out leads (a time fold the models never saw) under the config's cost model:
    a timeline replay on event-log data, the static fallback without events."""
    sub = Leads(leads.meta.loc[held_out], leads.inputs.loc[held_out])
    won = (sub.meta["label"] == 1).to_numpy()
    revenue = np.where(won, sub.meta["revenue"].to_numpy(dtype=float, na_value=np.nan), 0.0)
    revenue = np.nan_to_num(revenue)
    weeks, scale = _flow(to_days(leads.meta["created_at"]), to_days(sub.meta["created_at"]))
    if events is None or cfg.events is None:
        timeline = static_timeline(cfg, scorer, sub, events, as_of)
        return Replay(timeline, cfg.costs, revenue, None, None, weeks, scale)
    timeline = build_timeline(cfg, scorer, sub, events, horizon_days)
    stage = cfg.costs.contact_stage(cfg.leads.funnel)
    contacted = to_days(sub.meta[f"{stage}_at"]) if stage else None
    ready = ready_moments(cfg, sub, events)
    return Replay(timeline, cfg.costs, revenue, ready, contacted, weeks, scale)


def static_value(revenue: np.ndarray) -> ValueFn:
    """Without a timeline a handed-off lead is worth its realised revenue, whenever contacted."""

    def value(contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return revenue.copy(), revenue <= 0

    return value


def ready_moments(cfg: Config, leads: Leads, events: pd.DataFrame | None) -> np.ndarray:
    """When each lead became ready, as history shows it: its first hand-raise, else the first
    funnel stage it reached (days since the epoch). A lead that showed neither never became
    ready (NaN), unless it was won: then from its creation."""
    meta = leads.meta
    ready = np.where(meta["label"] == 1, to_days(meta["created_at"]), np.nan)
    for stage in reversed(list(cfg.leads.funnel)):
        reached = to_days(meta[f"{stage}_at"])
        ready = np.where(np.isnan(reached), ready, reached)
    if events is not None and cfg.events is not None and cfg.events.hand_raise and len(events):
        raised = events[events["event_type"].isin(cfg.events.hand_raise)]
        first = raised.groupby("lead_id")["occurred_at"].min().reindex(meta.index)
        ready = np.where(first.isna().to_numpy(), ready, to_days(first))
    return ready
