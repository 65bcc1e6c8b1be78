"""The historical handoff policy that produced the labels, as a typical revenue team runs it.

Marketing scores leads with hand-set points (no decay) and hands them over as MQLs; an SDR calls
after a slow delay and accepts or rejects; accepted leads may become SQL opportunities; deals
close after a sales cycle. Whether a contacted lead is won is drawn from the ground truth:
won iff win_draw < ResponseModel.win_probability(truth, first contact).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from training.synthetic.clock import round_seconds, to_datetimes
from training.synthetic.deals import sales_cycle_days
from training.synthetic.events import EVENT_TYPES, Events
from training.synthetic.truth import ResponseModel
from training.synthetic.windows import Windows

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
CONTACT_MEDIAN_HOURS = 20.0  # MQL -> first SDR contact: teams are slow
CONTACT_SIGMA = 1.4
SQL_MEDIAN_DAYS = 3.0  # accepted -> discovery call -> opportunity
SQL_MAX_DAYS = 30.0
DISQUALIFY_MEDIAN_DAYS = 10.0  # accepted but no opportunity: closed after some chasing
LOST_CYCLE_FACTOR = 0.8  # lost deals die a little faster than won ones close
LOST_AMOUNT_SIGMA = 0.25
SQL_AFTER_ACCEPT = 0.4  # accepted leads that will not buy still become opportunities this often
STALE_DAYS = 90.0  # never-contacted leads are closed lost after this long
SMALL_COMPANY = 20  # employees below which SDRs say "no budget"
# Cause of a rejection (checked in this order) and P(accept) of a non-buyer with that cause.
ACCEPT_BY_CAUSE: dict[str, float] = {
    "student or job seeker": 0.03,
    "not a decision maker": 0.25,
    "no budget / company too small": 0.25,
    "bad timing": 0.45,
    "competitor or partner": 0.1,
    "unresponsive": 0.7,
}
PARTNER_COMPETITOR_SHARE = 0.5  # partner-sourced leads turned down are often partners
OTHER_COMPETITOR_SHARE = 0.1


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


def _reject_cause(pop: Population, in_window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cause = np.full(len(pop.created), "unresponsive", dtype=object)
    checks = [
        (pop.seniority == "entry", "student or job seeker"),
        (np.isin(pop.seniority, ["individual", "unknown"]), "not a decision maker"),
        (pop.employees < SMALL_COMPANY, "no budget / company too small"),
        (~in_window, "bad timing"),
    ]
    decided = np.zeros(len(cause), dtype=bool)
    for mask, reason in checks:
        cause[mask & ~decided] = reason
        decided |= mask
    rival = rng.random(len(cause)) < np.where(
        pop.partner, PARTNER_COMPETITOR_SHARE, OTHER_COMPETITOR_SHARE
    )
    cause[~decided & rival] = "competitor or partner"
    return cause


class Funnel(NamedTuple):
    """Per lead, days since start; NaN where a step did not happen by the export."""

    mql: np.ndarray
    contact: np.ndarray
    accepted: np.ndarray  # bool
    cause: np.ndarray  # reject reason (or what it would have been)
    won: np.ndarray  # bool: will be won (known once closed)
    sql: np.ndarray
    close: np.ndarray
    amount: np.ndarray  # opportunity amount if an opportunity is ever opened


def _in_window(windows: Windows, contact: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return windows.in_market & (contact >= windows.start) & (contact <= windows.end)


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return rng.lognormal(np.log(median), sigma, n)


def _first_contact(mql: np.ndarray, export: float, rng: np.random.Generator) -> np.ndarray:
    delay = _lognormal(rng, CONTACT_MEDIAN_HOURS / 24, CONTACT_SIGMA, len(mql))
    contact = round_seconds(mql + delay)
    contact[contact > export] = np.nan  # not called yet when the CRM was exported
    return contact


def _sdr_accepts(
    pop: Population,
    windows: Windows,
    contact: np.ndarray,
    won: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(accepted, cause): buyers are always accepted; others by what the call reveals."""
    cause = _reject_cause(pop, _in_window(windows, contact), rng)
    p_accept = pd.Series(cause).map(ACCEPT_BY_CAUSE).to_numpy(dtype=np.float64)
    accepted = won | (~np.isnan(contact) & (rng.random(len(cause)) < p_accept))
    return accepted, cause


def _closing(
    pop: Population,
    mql: np.ndarray,
    contact: np.ndarray,
    accepted: np.ndarray,
    won: np.ndarray,
    export: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(sql, close) days: opportunities, their close, and the closing of everything else."""
    n = len(contact)
    to_sql = won | (accepted & (rng.random(n) < SQL_AFTER_ACCEPT))
    sql_delay = np.minimum(_lognormal(rng, SQL_MEDIAN_DAYS, 0.6, n), SQL_MAX_DAYS)
    sql = np.where(to_sql, round_seconds(contact + sql_delay), np.nan)
    cycle = sales_cycle_days(pop.employees, rng) * np.where(won, 1.0, LOST_CYCLE_FACTOR)
    disqualify = _lognormal(rng, DISQUALIFY_MEDIAN_DAYS, 0.6, n)
    stale = np.isnan(mql) & (pop.created + STALE_DAYS <= export)
    close = np.select(
        [to_sql, accepted, ~np.isnan(contact), stale],
        [sql + cycle, contact + disqualify, contact, pop.created + STALE_DAYS],
        np.nan,
    )
    return sql, round_seconds(close)


def run_funnel(
    pop: Population,
    events: Events,
    windows: Windows,
    truth: pd.DataFrame,
    export: float,
    origin: pd.Timestamp,
    model: ResponseModel,
    rng: np.random.Generator,
) -> Funnel:
    """Every lead through MQL, SDR contact, acceptance, SQL and close."""
    mql = mql_days(pop, events, rng)
    mql[mql > export] = np.nan
    contact = _first_contact(mql, export, rng)
    p_win = model.win_probability(truth, to_datetimes(contact, origin))
    won = truth["win_draw"].to_numpy() < p_win
    accepted, cause = _sdr_accepts(pop, windows, contact, won, rng)
    sql, close = _closing(pop, mql, contact, accepted, won, export, rng)
    deal = truth["deal_size"].to_numpy(dtype=np.float64)
    lost_amount = np.round(deal * rng.lognormal(0.0, LOST_AMOUNT_SIGMA, len(deal)), -2)
    amount = np.where(won, deal, lost_amount)
    return Funnel(mql, contact, accepted, cause, won, sql, close, amount)


def history_frame(funnel: Funnel, export: float, origin: pd.Timestamp) -> pd.DataFrame:
    """The CRM's history columns as of the export."""
    f = funnel
    contacted = ~np.isnan(f.contact)
    with np.errstate(invalid="ignore"):
        has_sql = f.sql <= export
        closed = f.close <= export
    won = f.won & closed
    stage = np.select(
        [won, closed, has_sql, f.accepted, ~np.isnan(f.mql)],
        ["won", "lost", "sql", "sal", "mql"],
        "lead",
    )
    decision = np.where(f.accepted, "accepted", np.where(contacted, "rejected", None))
    return pd.DataFrame(
        {
            "mql_at": to_datetimes(f.mql, origin),
            "sal_at": to_datetimes(np.where(f.accepted, f.contact, np.nan), origin),
            "sql_at": to_datetimes(np.where(has_sql, f.sql, np.nan), origin),
            "sdr_decision": pd.array(decision, dtype="str"),
            "sdr_reject_reason": pd.array(
                np.where(contacted & ~f.accepted, f.cause, None), dtype="str"
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
