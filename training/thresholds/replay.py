"""Replay a handoff policy over held-out leads: score each lead point-in-time along its history
(at each event and daily), hand it off at the first crossing, and count what it earns and costs.

The replay scores every lead once per moment (`timeline.build_timeline`, the expensive part);
a policy is then evaluated on the stored timeline in milliseconds (`evaluate_policy`), so a
threshold study can try hundreds of policies.

What a handoff is worth comes from an outcome model (`training.outcome`): the expected revenue
of handing a lead off in the state it is in at that moment, learnt from the leads the history
handed off, scaled by the cost model for contacting it sooner or later than the history did.
Realised revenue alone (won or not) is too noisy to rank policies on: a few hundred held-out
wins, each swinging the total by a deal's worth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from scoring.config import Config, CostModel
from scoring.data.validation import Leads
from scoring.features import to_days
from scoring.features.moments import handoff_stage
from scoring.model.scorer import LeadScorer
from training.thresholds.outcome import OutcomeModel
from training.thresholds.response import ResponseTimes, SalesFeedback
from training.thresholds.timeline import (
    HOURS,
    Timeline,
    build_timeline,
    first_moment,
    static_timeline,
)
from training.thresholds.units import check_cost_units, value_unit, won_deal_value


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
    handoffs: pd.DataFrame  # per handed-off lead (by position): at, contact, loads, net_value

    @property
    def nurture_value(self) -> float:
        """What the leads handed to no one bring on their own (`costs.nurture_value_share` of
        their revenue): the net value beyond the handoffs'."""
        return self.net_value - float(self.handoffs["net_value"].sum())

    @cached_property
    def weekly(self) -> pd.DataFrame:
        """week -> sdr_load, ae_load, net_value of the replayed leads (unscaled)."""
        frame = self.handoffs
        week = pd.to_datetime(frame["at"] * 86_400, unit="s").dt.to_period("W").dt.start_time
        loads = frame.drop(columns=["at", "contact"])
        return loads.groupby(week.rename("week")).sum().sort_index()


ValueFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(moment of each lead's handoff (-1: none), its first contact (inf: never)) ->
(what the lead is worth, whether it was not ready when contacted)."""


def log2_kept(costs: CostModel, contact: np.ndarray, ready: np.ndarray) -> np.ndarray:
    """log2 of the share of a lead's value a first contact at `contact` keeps under the cost
    model: halving every `ready_half_life_hours` after the lead became ready,
    `1 - premature_penalty` before (a lead that never showed it was ready, NaN, is always
    early). In log2 so that long waits under short half-lives neither underflow nor divide
    0 by 0."""
    late = np.fmax(contact - ready, 0.0)
    with np.errstate(divide="ignore"):
        early = np.log2(1.0 - costs.premature_penalty)
    return np.where(contact >= ready, -late / (costs.ready_half_life_hours * HOURS), early)


def speed_credit(
    costs: CostModel, at: np.ndarray, contact: np.ndarray, ready: np.ndarray, delays: np.ndarray
) -> np.ndarray:
    """What a first contact at `contact` keeps over what the history's contact, `delays` after
    a handoff at `at`, kept on average (1 when neither keeps anything), up to
    `max_timing_credit`."""
    cap = costs.max_timing_credit
    history = log2_kept(costs, at[:, None] + delays[None, :], ready[:, None])
    top = history.max(axis=1)
    finite = np.isfinite(top)
    top = np.where(finite, top, 0.0)
    mean = top + np.log2(np.exp2(history - top[:, None]).mean(axis=1))
    ratio = np.exp2(np.minimum(log2_kept(costs, contact, ready) - mean, np.log2(cap)))
    return np.where(finite, ratio, 1.0)


def outcome_value(tl: Timeline, costs: CostModel, ready: np.ndarray, delays: np.ndarray) -> ValueFn:
    """A handoff is worth the outcome model's expected revenue at its moment (what handing off a
    lead in that state earned the history, contacted at the history's speed), times what the
    policy's contact keeps under the cost model over what the history's contact (`delays`
    after the handoff, its own spread) would have kept."""

    def value(moment: np.ndarray, contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        handed = np.flatnonzero(moment >= 0)
        worth = np.zeros(len(moment))
        worth[handed] = tl.value[moment[handed]]
        if len(delays):  # a leads x delays matrix: for the handed-off leads only
            at = tl.at[moment[handed]]
            worth[handed] *= speed_credit(costs, at, contact[handed], ready[handed], delays)
        return worth, ~(contact >= ready)

    return value


def static_value(tl: Timeline) -> ValueFn:
    """Without a timeline a handed-off lead is worth the outcome model's expected revenue at its
    one scoring moment, whenever contacted. Nothing says when it was ready: every MQL counts as
    passed on to an AE (the AE load is not underestimated)."""

    def value(moment: np.ndarray, contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        handed = moment >= 0
        return np.where(handed, tl.value[np.where(handed, moment, 0)], 0.0), np.zeros_like(handed)

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
    m_mql = first_moment(tl, eligible & (score >= policy.mql))
    m_sql = first_moment(tl, eligible & (score >= policy.sql))
    direct = (m_sql >= 0) & (m_sql <= m_mql)  # crossed SQL at its first crossing: AE lane
    via_sdr = (m_mql >= 0) & ~direct
    handed = direct | via_sdr
    moment = np.where(direct, m_sql, np.where(via_sdr, m_mql, -1))
    at = np.where(handed, tl.at[np.maximum(moment, 0)], np.nan)
    response = np.where(direct, costs.ae_response_hours, costs.sdr_response_hours) * HOURS
    contact = np.where(handed, at + response, np.inf)
    worth, not_ready = value(moment, contact)
    worth = np.where(handed, worth, never)
    passed_on = np.where(not_ready, 1 - costs.sdr_reject_rate, 1.0)  # SDR passes it to an AE
    sdr_cost = via_sdr * costs.sdr_cost_per_mql
    ae_load = direct + via_sdr * passed_on
    ae_cost = ae_load * costs.ae_cost_per_sql
    handoffs = pd.DataFrame(
        {
            "at": at,
            "contact": contact,
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
    """Average weekly handoffs the policy sends each team, scaled to the whole lead flow (NaN
    when the data says nothing of the flow: no creation dates, no `costs.leads_per_week`)."""

    sdr_per_week: float
    ae_per_week: float

    @property
    def known(self) -> bool:
        return bool(np.isfinite(self.sdr_per_week) and np.isfinite(self.ae_per_week))


@dataclass(frozen=True)
class SpeedToLead:
    """When the policy's first calls come, against when the leads became ready."""

    early_share: float  # share of handed-off leads called before they were ready ...
    never_ready_share: float  # ... of which these never showed they were (no ask, no handoff)
    median_wait_hours: float | None  # ready to first call, of leads called once ready (if any)


@dataclass(frozen=True)
class Replay:
    """Held-out leads ready to evaluate any policy: their timeline, what each is worth when
    handed off at a given moment, and how to scale their handoffs to the team's weekly load.

    With `ready` (event-log data) a lead's value depends on when it is contacted (the cost
    model's half-life and premature penalty, against the history's own `delays`); without it
    (snapshot data: one score per lead, no timeline) a handed-off lead is worth its expected
    revenue whenever contacted: the static expected-value fallback. `truth` replaces the value
    model (the synthetic world's ground truth, for the proof)."""

    timeline: Timeline
    costs: CostModel
    revenue: np.ndarray  # realised revenue per lead (0 when lost)
    ready: np.ndarray | None  # when each lead became ready (days since the epoch)
    delays: np.ndarray  # days from handoff to first contact in the history (its spread)
    weeks: float  # weeks of lead creation the replayed leads span (NaN: no creation dates)
    scale: float  # leads created in the database over that span / replayed leads
    truth: ValueFn | None = None
    unit: str = ""  # what amounts are counted in, after a number: "" money, or "won deals"
    response: ResponseTimes | None = None  # where the response times come from (None: config)
    # what else the feedback changed: `history_speed` (where `delays` come from) and
    # `not_ready_leads` (replayed leads an SDR sent back as not ready)
    notes: dict = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "truth" if self.truth else ("timeline" if self.ready is not None else "static")

    def value_model(self) -> tuple[ValueFn, np.ndarray]:
        """(value of a handoff, value if never handed off) per lead. A lead left in nurture
        keeps `nurture_value_share` of what it brought (it may buy on its own)."""
        if self.truth is not None:
            return self.truth, np.zeros(len(self.revenue))
        never = self.revenue * self.costs.nurture_value_share
        if self.ready is None:
            return static_value(self.timeline), never
        return outcome_value(self.timeline, self.costs, self.ready, self.delays), never

    def evaluate(self, policy: Policy, score: np.ndarray | None = None) -> Outcome:
        value, never = self.value_model()
        return evaluate_policy(self.timeline, self.costs, policy, value, never, score)

    @property
    def has_fit(self) -> bool:
        """Whether the model scores fit (a source without fit features has no fit score, so no
        minimum fit score to tune)."""
        return bool(np.isfinite(self.timeline.fit).any())

    @property
    def dated(self) -> bool:
        """Whether the replayed leads have creation dates (weeks to count handoffs in)."""
        return bool(np.isfinite(self.weeks))

    @property
    def per_week(self) -> float | None:
        """Weekly handoffs per replayed handoff: `costs.leads_per_week` over the replayed leads
        when the config gives the flow, else measured from creation dates; None with neither
        (then no weekly load is known and capacity does not constrain the study)."""
        if self.costs.leads_per_week is not None:
            return self.costs.leads_per_week / max(len(self.revenue), 1)
        if not self.dated:
            return None
        return self.scale / max(self.weeks, 1.0)

    def load(self, outcome: Outcome) -> Load:
        per_week = self.per_week
        if per_week is None:
            return Load(np.nan, np.nan)
        return Load(outcome.mqls * per_week, outcome.ae_load * per_week)

    def within_capacity(self, load: Load) -> bool:
        """Whether a load fits both teams, headroom kept free; any load does when it is unknown."""
        return not load.known or self.costs.within_capacity(load.sdr_per_week, load.ae_per_week)

    def capacity_excess(self, load: Load) -> tuple[float, float]:
        """The study's constraints (<= 0: within capacity); 0 when the load is unknown."""
        if not load.known:
            return 0.0, 0.0
        return self.costs.capacity_excess(load.sdr_per_week, load.ae_per_week)

    def speed_to_lead(self, outcome: Outcome) -> SpeedToLead | None:
        """None without a timeline (nothing says when a lead was ready)."""
        if self.ready is None or outcome.handoffs.empty:
            return None
        frame = outcome.handoffs
        ready = self.ready[frame.index]
        wait = (frame["contact"].to_numpy() - ready) / HOURS
        on_time = wait >= 0
        median = float(np.median(wait[on_time])) if on_time.any() else None
        return SpeedToLead(float(1.0 - on_time.mean()), float(np.isnan(ready).mean()), median)

    def with_costs(self, costs: CostModel) -> Replay:
        return replace(self, costs=costs)

    def under_truth(self, value: ValueFn) -> Replay:
        """The same leads and moments, valued by a ground-truth response model."""
        return replace(self, truth=value)


def _flow(all_created: np.ndarray, created: np.ndarray) -> tuple[float, float]:
    """(weeks the replayed leads span, leads created in that span / replayed leads); NaN weeks
    without creation dates (counting the replayed leads as one week would invent a flow)."""
    if np.isnan(created).all():
        return np.nan, 1.0
    lo, hi = np.nanmin(created), np.nanmax(created)
    inside = ((all_created >= lo) & (all_created <= hi)).sum()
    return max((hi - lo) / 7.0, 1.0), max(inside / len(created), 1.0)


DELAY_QUANTILES = 50


def contact_delays(cfg: Config, meta: pd.DataFrame) -> np.ndarray:
    """How long the history took from handing a lead off (the scoring stage) to first contacting
    it (`costs.history_contact_stage`), in days, as quantiles of its spread; empty when the
    funnel does not record both (then the history's timing is taken as the policy's own)."""
    handoff = handoff_stage(cfg)
    contact = cfg.costs.contact_stage(cfg.leads.funnel)
    if handoff is None or contact is None or handoff == contact:
        return np.empty(0)
    delay = to_days(meta[f"{contact}_at"]) - to_days(meta[f"{handoff}_at"])
    delay = delay[np.isfinite(delay) & (delay >= 0)]
    if not len(delay):
        return np.empty(0)
    return np.quantile(delay, (np.arange(DELAY_QUANTILES) + 0.5) / DELAY_QUANTILES)


def build_replay(
    cfg: Config,
    scorer: LeadScorer,
    leads: Leads,
    events: pd.DataFrame | None,
    held_out: pd.Index,
    as_of: pd.Series,
    horizon_days: float = 120.0,
    outcome: OutcomeModel | None = None,
    feedback: SalesFeedback | None = None,
) -> Replay:
    """The held-out leads (a time fold the models never saw) under the config's cost model:
    a timeline replay on event-log data, the static fallback without events. `outcome` values
    the handoffs (`training.outcome`; the model itself when None). `feedback` (sales feedback,
    `response.sales_feedback`) gives the measured response times, the history's first-touch
    delays and the not-ready rejections, each where there is enough of it; without it, the
    config's times and the funnel's delays. Refuses costs that cannot be in the data's units
    (`units.check_cost_units`)."""
    check_cost_units(cfg)
    response = feedback.response if feedback is not None else None
    costs = response.apply(cfg.costs) if response is not None else cfg.costs
    sub = Leads(leads.meta.loc[held_out], leads.inputs.loc[held_out])
    revenue = realised_revenue(cfg, sub.meta)
    weeks, scale = _flow(to_days(leads.meta["created_at"]), to_days(sub.meta["created_at"]))
    flow = {"weeks": weeks, "scale": scale, "unit": value_unit(cfg), "response": response}
    if events is None or cfg.events is None:
        timeline = static_timeline(cfg, scorer, sub, events, as_of, outcome)
        return Replay(timeline, costs, revenue, None, np.empty(0), **flow)
    timeline = build_timeline(cfg, scorer, sub, events, horizon_days, outcome=outcome)
    not_ready = feedback.not_ready_days(sub.meta.index) if feedback is not None else None
    ready = ready_moments(cfg, sub, events, not_ready)
    # the speed of the history the outcome model learnt from: the leads before the held-out
    # ones, from handoff to first touch when the feedback records it, else to the funnel stage
    # of the first contact
    earlier = leads.meta.drop(held_out)
    touch = feedback.first_touch_days(earlier.index) if feedback is not None else np.empty(0)
    if len(touch):
        delays = np.quantile(touch, (np.arange(DELAY_QUANTILES) + 0.5) / DELAY_QUANTILES)
        speed = f"first touch, measured from {len(touch):,} leads"
    else:
        delays = contact_delays(cfg, earlier)
        speed = _funnel_speed(cfg) if len(delays) else "none recorded (the policy's own)"
    moved = int(np.sum(np.isfinite(not_ready))) if not_ready is not None else 0
    notes = {"history_speed": speed, "not_ready_leads": moved}
    return Replay(timeline, costs, revenue, ready, delays, **flow, notes=notes)


def _funnel_speed(cfg: Config) -> str:
    handoff = handoff_stage(cfg)
    contact = cfg.costs.contact_stage(cfg.leads.funnel)
    return f"funnel, {handoff} to {contact}"


def realised_revenue(cfg: Config, meta: pd.DataFrame) -> np.ndarray:
    """What each lead brought: its revenue when won (a won deal's value when the source records
    no amounts), 0 when lost or unknown."""
    won = (meta["label"] == 1).to_numpy()
    deal = won_deal_value(cfg)
    amount = meta["revenue"].to_numpy(dtype=float, na_value=np.nan) if deal is None else deal
    return np.nan_to_num(np.where(won, amount, 0.0))


def ready_moments(
    cfg: Config,
    leads: Leads,
    events: pd.DataFrame | None,
    not_ready: np.ndarray | None = None,
) -> np.ndarray:
    """When each lead became ready, as history shows it (days since the epoch): the earlier of
    its first ready event (`events.ready`: it asked to talk to sales) and the first funnel stage
    it reached (the team judged it ready). A lead that showed neither never became ready (NaN):
    its outcome does not count, or only winners could ever be called on time.

    `not_ready` (per lead, days; NaN: none) is when an SDR last sent the lead back as not ready
    (`feedback.not_ready`): what came before it is no sign of readiness (the handoff that the
    SDR turned down above all), so the lead became ready at its first sign after it, if any."""
    meta = leads.meta
    after = np.full(len(meta), -np.inf)
    if not_ready is not None:
        after = np.where(np.isnan(not_ready), -np.inf, not_ready)
    ready = np.full(len(meta), np.nan)
    for stage in reversed(list(cfg.leads.funnel)):
        reached = to_days(meta[f"{stage}_at"])
        reached = np.where(reached > after, reached, np.nan)
        ready = np.where(np.isnan(reached), ready, reached)
    spec = cfg.events
    signals = (spec.ready if spec.ready is not None else spec.hand_raise) if spec else []
    if events is not None and signals and len(events):
        raised = events[events["event_type"].isin(signals)]
        at = to_days(raised["occurred_at"])
        position = meta.index.get_indexer(raised["lead_id"])
        known = position >= 0
        late = np.full(len(raised), False)
        late[known] = at[known] > after[position[known]]
        first = raised[late].groupby("lead_id")["occurred_at"].min().reindex(meta.index)
        ready = np.fmin(ready, to_days(first))
    return ready
