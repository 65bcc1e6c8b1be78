"""Activity events: background engagement, buying-window intent, hand-raises and noise.

Each process has an intensity over time; counts are Poisson with the integrated intensity over
[created_at, exported_at] and times are drawn by inverse CDF, all at once for every lead.
Times are float days since the start of the history.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from training.synthetic import intensity
from training.synthetic.clock import round_seconds
from training.synthetic.leads import LEAD_SOURCES
from training.synthetic.windows import Windows

EVENT_TYPES = (
    "email_open",
    "email_click",
    "web_visit",
    "pricing_page",
    "competitor_comparison",
    "content_download",
    "webinar",
    "demo_request",
    "contact_form",
    "trial_signup",
)
HAND_RAISES = ("demo_request", "contact_form", "trial_signup")

# Background: everyone opens emails and browses a little, most right after signing up.
BURST_EVENTS = 8.0  # expected events of the sign-up burst for an average lead
BURST_DAYS = 20.0  # e-folding time of the burst
STEADY_PER_DAY = 0.016  # newsletter-level engagement that never stops
ENGAGEMENT_SHAPE = 1.3  # gamma shape of the per-lead engagement level (mean 1)
SOURCE_ENGAGEMENT: dict[str, float] = {
    "organic_search": 1.0,
    "paid_search": 0.9,
    "webinar": 1.3,
    "content_syndication": 0.7,
    "referral": 1.0,
    "event": 1.1,
    "outbound_list": 0.35,
    "partner": 0.9,
}
BACKGROUND_MIX = {
    "email_open": 0.50,
    "email_click": 0.14,
    "web_visit": 0.28,
    "content_download": 0.05,
    "webinar": 0.03,
}
# Buying window: intent follows the curve of `intensity`.
INTENT_HALF_LIFE_DAYS = 7.0
WINDOW_EVENTS_PER_DAY = 0.55  # mean rate at full intent (gamma across leads)
WINDOW_RATE_SHAPE = 2.0
WINDOW_MIX = {
    "web_visit": 0.28,
    "pricing_page": 0.22,
    "competitor_comparison": 0.10,
    "content_download": 0.10,
    "email_click": 0.20,
    "webinar": 0.10,
}
# Hand-raises: only from ready_at on.
HAND_RAISE_AT_READY_SHARE = 0.65  # the sales-ready moment is a demo request or similar
HAND_RAISES_PER_DAY = 0.03  # further hand-raises at full intent after ready_at
HAND_RAISE_MIX = {"demo_request": 0.55, "contact_form": 0.30, "trial_signup": 0.15}
# Noise from leads who are not in market.
STRAY_DAYS = 120.0  # strays happen within this many days of sign-up
STRAY_PRICING_VISITS = 0.25  # expected pricing-page visits per not-in-market lead
STRAY_DEMO_ENTRY = 0.06  # students ask for demos of everything
STRAY_DEMO_OTHER = 0.01


class Events(NamedTuple):
    """Unsorted events: lead row, index into EVENT_TYPES, float days since the start."""

    lead: np.ndarray
    kind: np.ndarray
    day: np.ndarray


class LeadTimes(NamedTuple):
    created: np.ndarray  # days
    export: float  # days
    source: np.ndarray  # index into LEAD_SOURCES
    entry: np.ndarray  # bool: entry-level title (students, interns)


def _kinds(mix: dict[str, float], n: int, rng: np.random.Generator) -> np.ndarray:
    codes = np.array([EVENT_TYPES.index(k) for k in mix])
    p = np.array(list(mix.values()))
    return codes[rng.choice(len(codes), size=n, p=p / p.sum())]


def _background(leads: LeadTimes, rng: np.random.Generator) -> Events:
    n = len(leads.created)
    source = np.array([SOURCE_ENGAGEMENT[s] for s in LEAD_SOURCES])[leads.source]
    level = rng.gamma(ENGAGEMENT_SHAPE, 1.0 / ENGAGEMENT_SHAPE, n) * source
    age = leads.export - leads.created
    burst = level * BURST_EVENTS * -np.expm1(-age / BURST_DAYS)
    steady = level * STEADY_PER_DAY * age
    counts = rng.poisson(burst + steady)
    lead = np.repeat(np.arange(n), counts)
    u = rng.random(len(lead))
    in_burst = rng.random(len(lead)) * (burst + steady)[lead] < burst[lead]
    burst_share = -np.expm1(-age[lead] / BURST_DAYS)
    burst_day = -BURST_DAYS * np.log1p(-u * burst_share)
    offset = np.where(in_burst, burst_day, u * age[lead])
    day = leads.created[lead] + offset
    return Events(lead, _kinds(BACKGROUND_MIX, len(lead), rng), day)


def _along_intent(
    rows: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    rate: np.ndarray,
    windows: Windows,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson events on [lo, hi] of lead `rows` with intensity rate * intent curve."""
    shape = (windows.start[rows], windows.ready[rows], windows.end[rows], INTENT_HALF_LIFE_DAYS)
    s_lo = intensity.cumulative(lo, *shape)
    s_hi = intensity.cumulative(hi, *shape)
    counts = rng.poisson(rate * np.maximum(s_hi - s_lo, 0.0))
    pick = np.repeat(np.arange(len(rows)), counts)
    s = s_lo[pick] + rng.random(len(pick)) * (s_hi - s_lo)[pick]
    parts = tuple(np.asarray(x)[pick] for x in shape[:3])
    day = intensity.inverse(s, *parts, INTENT_HALF_LIFE_DAYS)
    return rows[pick], np.clip(day, lo[pick], hi[pick])


def _window(leads: LeadTimes, windows: Windows, rng: np.random.Generator) -> Events:
    rows = np.flatnonzero(windows.in_market & (windows.start < leads.export))
    lo = np.maximum(windows.start[rows], leads.created[rows])
    hi = np.full(len(rows), leads.export)
    rate = rng.gamma(WINDOW_RATE_SHAPE, WINDOW_EVENTS_PER_DAY / WINDOW_RATE_SHAPE, len(rows))
    lead, day = _along_intent(rows, lo, hi, rate, windows, rng)
    return Events(lead, _kinds(WINDOW_MIX, len(lead), rng), day)


def _hand_raises(leads: LeadTimes, windows: Windows, rng: np.random.Generator) -> Events:
    rows = np.flatnonzero(windows.in_market & (windows.ready <= leads.export))
    at_ready = rows[rng.random(len(rows)) < HAND_RAISE_AT_READY_SHARE]
    lo = windows.ready[rows]
    hi = np.full(len(rows), leads.export)
    rate = np.full(len(rows), HAND_RAISES_PER_DAY)
    later, later_day = _along_intent(rows, lo, hi, rate, windows, rng)
    lead = np.concatenate([at_ready, later])
    day = np.concatenate([windows.ready[at_ready], later_day])
    return Events(lead, _kinds(HAND_RAISE_MIX, len(lead), rng), day)


def _strays(leads: LeadTimes, windows: Windows, rng: np.random.Generator) -> Events:
    out = np.flatnonzero(~windows.in_market)
    span = np.minimum(leads.export - leads.created[out], STRAY_DAYS)
    visits = rng.poisson(STRAY_PRICING_VISITS * span / STRAY_DAYS)
    demo_rate = np.where(leads.entry[out], STRAY_DEMO_ENTRY, STRAY_DEMO_OTHER)
    demos = rng.random(len(out)) < demo_rate * span / STRAY_DAYS
    pick = np.concatenate([np.repeat(np.arange(len(out)), visits), np.flatnonzero(demos)])
    kind = np.repeat(
        [EVENT_TYPES.index("pricing_page"), EVENT_TYPES.index("demo_request")],
        [visits.sum(), demos.sum()],
    )
    day = leads.created[out][pick] + rng.random(len(pick)) * span[pick]
    return Events(out[pick], kind, day)


def generate_events(leads: LeadTimes, windows: Windows, rng: np.random.Generator) -> Events:
    """All events of all leads, within [created, export], sorted by (lead, time)."""
    parts = [
        _background(leads, rng),
        _window(leads, windows, rng),
        _hand_raises(leads, windows, rng),
        _strays(leads, windows, rng),
    ]
    lead = np.concatenate([p.lead for p in parts])
    kind = np.concatenate([p.kind for p in parts])
    day = round_seconds(np.concatenate([p.day for p in parts]))
    day = np.clip(day, leads.created[lead], leads.export)
    order = np.lexsort((kind, day, lead))
    return Events(lead[order], kind[order], day[order])
