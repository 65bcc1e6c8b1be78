"""The historical handoff policy that produced the labels, as a typical revenue team runs it.

Marketing scores leads with hand-set points (no decay) and hands them over as MQLs; SDRs work
them in office hours (`sdr`: attempts, accept or reject, rejected leads back to marketing until
they raise their hand again); AEs turn accepted leads into opportunities or disqualify them
(`ae`); deals close after a sales cycle. Whether a contacted lead is won is drawn from the ground
truth: won iff win_draw < ResponseModel.win_probability(truth, first contact attempt).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from training.synthetic import ae, sdr
from training.synthetic.clock import round_seconds, to_datetimes
from training.synthetic.deals import sales_cycle_days
from training.synthetic.events import EVENT_TYPES, HAND_RAISES, Events
from training.synthetic.randomness import stream
from training.synthetic.truth import ResponseModel
from training.synthetic.windows import Windows
from training.synthetic.workhours import WorkCalendar

# Marketing-automation points (Marketo style): per event, never decaying.
POINTS: dict[str, float] = {
    "email_open": 1,
    "email_click": 3,
    "web_visit": 2,
    "pricing_page": 10,
    "competitor_comparison": 8,
    "content_download": 5,
    "webinar": 8,
    "demo_request": 50,
    "contact_form": 40,
    "trial_signup": 30,
}
PROFILE_POINTS: dict[str, float] = {  # demographic points given at sign-up
    "c_level": 10,
    "vp": 15,
    "director": 15,
    "manager": 5,
    "individual": 0,
    "entry": -15,
    "unknown": -10,
}
MQL_THRESHOLD = 60.0
INSTANT_MQL = ("demo_request", "contact_form")
PROSPECTED_SHARE = 0.35  # outbound_list leads an SDR marks MQL while prospecting ...
PROSPECTING_MEDIAN_DAYS = 4.0  # ... a few days after the list import
LOST_CYCLE_FACTOR = 0.8  # lost deals die a little faster than won ones close
LOST_AMOUNT_SIGMA = 0.25
STALE_DAYS = 90.0  # leads that never became MQLs are closed lost after this long
CALENDAR_MARGIN_DAYS = 400.0  # working days known past the export (AE decisions, cycles)


class Population(NamedTuple):
    """Per lead, aligned with the truth frame."""

    created: np.ndarray  # days since start
    seniority: np.ndarray  # labels of the title
    employees: np.ndarray
    outbound: np.ndarray  # bool: lead_source == outbound_list
    partner: np.ndarray  # bool: lead_source == partner


def _per_lead_first(lead: np.ndarray, day: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Earliest day per lead among masked events (events sorted by lead, time); NaN if none."""
    out = np.full(n, np.nan)
    rows, first = np.unique(lead[mask], return_index=True)
    out[rows] = day[mask][first]
    return out


def mql_days(pop: Population, events: Events, rng: np.random.Generator) -> np.ndarray:
    """When each lead became an MQL (days), NaN if it did not."""
    n = len(pop.created)
    points = np.array([POINTS[t] for t in EVENT_TYPES])[events.kind]
    cum = np.cumsum(points)
    starts = np.flatnonzero(np.r_[True, events.lead[1:] != events.lead[:-1]])
    before = np.r_[0.0, cum][starts]  # running total at each lead's first event
    lead_cum = cum - np.repeat(before, np.diff(np.r_[starts, len(cum)]))
    profile = pd.Series(pop.seniority).map(PROFILE_POINTS).to_numpy(dtype=np.float64)
    crossed = lead_cum + profile[events.lead] >= MQL_THRESHOLD
    instant = np.isin(events.kind, [EVENT_TYPES.index(t) for t in INSTANT_MQL])
    by_points = _per_lead_first(events.lead, events.day, crossed | instant, n)
    prospected = pop.outbound & (rng.random(n) < PROSPECTED_SHARE)
    delay = rng.lognormal(np.log(PROSPECTING_MEDIAN_DAYS), 0.5, n)
    by_sdr = np.where(prospected, round_seconds(pop.created + delay), np.nan)
    return np.fmin(by_points, by_sdr)


class Funnel(NamedTuple):
    """Per lead, days since start; NaN where a step did not happen (it may be after the export:
    `history_frame` and the sales log keep what happened by then)."""

    mql: np.ndarray  # the first time the lead became an MQL
    contact: np.ndarray  # first contact attempt (NaN if none by the export)
    won: np.ndarray  # bool: will be won (known once closed)
    rounds: list[sdr.Round]  # the SDR rounds, in order
    accepted: np.ndarray  # when an SDR accepted the lead (SAL)
    qualification: ae.Qualification
    sql: np.ndarray
    close: np.ndarray
    amount: np.ndarray  # opportunity amount if an opportunity is ever opened


def _sdr_lead(
    pop: Population, events: Events, truth: pd.DataFrame, export: float, seed: int
) -> sdr.Lead:
    raised = np.isin(events.kind, [EVENT_TYPES.index(t) for t in HAND_RAISES])
    return sdr.Lead(
        pop.seniority,
        pop.employees,
        truth["fit_logit"].to_numpy(dtype=np.float64),
        sdr.rival_companies(pop.partner, stream(seed, "sdr causes")),
        sdr.ReadyEvents.of(events.lead[raised], events.day[raised], export),
    )


def run_funnel(
    pop: Population,
    events: Events,
    windows: Windows,
    truth: pd.DataFrame,
    export: float,
    origin: pd.Timestamp,
    model: ResponseModel,
    seed: int,
) -> Funnel:
    """Every lead through MQL, SDR rounds (recycled when rejected), AE qualification and close."""
    n = len(pop.created)
    mql = mql_days(pop, events, stream(seed, "history"))
    mql[mql > export] = np.nan
    calendar = WorkCalendar(origin, export + CALENDAR_MARGIN_DAYS)
    lead = _sdr_lead(pop, events, truth, export, seed)
    contact = np.full(n, np.nan)
    won = np.zeros(n, dtype=bool)
    rounds: list[sdr.Round] = []
    handed = mql
    for number in range(sdr.MAX_ROUNDS):
        rows = np.flatnonzero(~np.isnan(handed))
        if not len(rows):
            break
        rng = stream(seed, f"sdr round {number + 1}")
        tries = sdr.attempts(calendar, windows, rows, handed[rows], rng)
        if number == 0:  # the first attempt is the first contact of the ground truth
            first = tries.times[:, 0]
            contact[rows] = np.where(first <= export, first, np.nan)
            p_win = model.win_probability(truth, to_datetimes(contact, origin))
            won = truth["win_draw"].to_numpy() < p_win
        done = sdr.decide(
            number, calendar, windows, lead, handed[rows], rows, tries, won[rows], rng
        )
        rounds.append(done)
        handed = np.full(n, np.nan)
        handed[rows] = done.back
    accepted = np.full(n, np.nan)
    stale = np.full(n, np.nan)
    for done in rounds:
        accepted[done.rows[done.accepted]] = done.decided[done.accepted]
        gone = ~done.accepted & np.isnan(done.back)
        stale[done.rows[gone]] = done.decided[gone] + sdr.STALE_DAYS
    qualification = ae.qualify(calendar, windows, lead, accepted, won, stream(seed, "ae"))
    rng = stream(seed, "opportunities")
    sql = np.where(qualification.to_sql, qualification.decided, np.nan)
    cycle = sales_cycle_days(pop.employees, rng) * np.where(won, 1.0, LOST_CYCLE_FACTOR)
    never = np.isnan(mql) & (pop.created + STALE_DAYS <= export)
    close = np.select(
        [~np.isnan(sql), ~np.isnan(accepted), ~np.isnan(stale), never],
        [sql + cycle, qualification.decided, stale, pop.created + STALE_DAYS],
        np.nan,
    )
    deal = truth["deal_size"].to_numpy(dtype=np.float64)
    lost_amount = np.round(deal * rng.lognormal(0.0, LOST_AMOUNT_SIGMA, n), -2)
    amount = np.where(won, deal, lost_amount)
    return Funnel(
        mql, contact, won, rounds, accepted, qualification, sql, round_seconds(close), amount
    )


class _Latest(NamedTuple):
    """Per lead, the SDR side as of the export."""

    decided: np.ndarray  # the latest SDR decision (NaN: none)
    accepted: np.ndarray  # bool: that decision was an acceptance
    reason: np.ndarray  # its logged reason (sdr.NONE when accepted)
    state: np.ndarray  # 0 not handed over, 1 with the SDRs (MQL), 2 back in marketing


def latest_sdr(funnel: Funnel, export: float) -> _Latest:
    n = len(funnel.mql)
    decided = np.full(n, np.nan)
    accepted = np.zeros(n, dtype=bool)
    reason = np.full(n, sdr.NONE, dtype=np.int8)
    state = np.zeros(n, dtype=np.int8)
    for done in funnel.rounds:  # chronological per lead: later rounds override
        state[done.rows[done.mql <= export]] = 1
        known = done.decided <= export
        rows = done.rows[known]
        decided[rows] = done.decided[known]
        accepted[rows] = done.accepted[known]
        reason[rows] = done.reason[known]
        state[done.rows[known & ~done.accepted]] = 2
    return _Latest(decided, accepted, reason, state)


def history_frame(funnel: Funnel, export: float, origin: pd.Timestamp) -> pd.DataFrame:
    """The CRM's history columns as of the export: mql_at the first handoff, sdr_decision and
    sdr_reject_reason the latest SDR decision, sal_at the acceptance, sql_at the opportunity."""
    f = funnel
    latest = latest_sdr(f, export)
    decided = ~np.isnan(latest.decided)
    with np.errstate(invalid="ignore"):
        sal = f.accepted <= export
        has_sql = f.sql <= export
        closed = f.close <= export
    won = f.won & closed
    stage = np.select(
        [won, closed, has_sql, sal, latest.state == 2, latest.state == 1],
        ["won", "lost", "sql", "sal", "nurture", "mql"],
        "lead",
    )
    decision = np.where(decided, np.where(latest.accepted, "accepted", "rejected"), None)
    return pd.DataFrame(
        {
            "mql_at": to_datetimes(f.mql, origin),
            "sal_at": to_datetimes(np.where(sal, f.accepted, np.nan), origin),
            "sql_at": to_datetimes(np.where(has_sql, f.sql, np.nan), origin),
            "sdr_decision": pd.array(decision, dtype="str"),
            "sdr_reject_reason": sdr.reason_names(
                np.where(decided, latest.reason, sdr.NONE), sdr.REASONS
            ),
            "opportunity_amount": np.where(has_sql, f.amount, np.nan),
            "outcome": pd.array(
                np.where(won, "won", np.where(closed, "lost", "open")), dtype="str"
            ),
            "revenue": np.where(won, f.amount, np.nan),
            "closed_at": to_datetimes(np.where(closed, f.close, np.nan), origin),
            "stage": pd.array(stage, dtype="str"),
        }
    )
