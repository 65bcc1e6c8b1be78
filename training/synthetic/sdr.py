"""The SDR desk: contact attempts in working hours, the accept/reject handshake, recycling.

One round per handoff: an MQL waits for a first touch (business hours), the SDR tries up to six
times by call, email or LinkedIn about a working day apart, and decides when the lead answers
(or gives up on it as unresponsive). A rejected lead goes back to marketing; when it raises its
hand again (a ready event: demo request, contact form, trial) within the stale period it is an
MQL again and starts a new round. Rejection reasons are the true cause as of the decision, except
for a share the SDR mislabels. Times are float days since the origin; codes index the tuples.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from training.synthetic.clock import round_seconds
from training.synthetic.windows import Windows
from training.synthetic.workhours import WorkCalendar

MAX_ROUNDS = 4  # handoffs per lead; a lead rejected in the last one is not taken back
MAX_ATTEMPTS = 6
FIRST_TOUCH_MEDIAN_HOURS = 4.5  # business hours from (re-)MQL to the first attempt ...
FIRST_TOUCH_SIGMA = 1.5  # ... 16% within the first hour, 47% within four
FIRST_TOUCH_MAX_HOURS = 120.0  # nothing waits more than 15 working days
RETRY_MEDIAN_HOURS = 8.0  # between attempts: about a working day
RETRY_SIGMA = 0.8
CONNECT_IN_WINDOW = 0.6  # P(an attempt reaches the lead) while it is shopping ...
CONNECT_OTHER = 0.4  # ... and otherwise
GIVE_UP_AFTER = {3: 0.2, 4: 0.35, 5: 0.25, 6: 0.2}  # unanswered attempts before giving up
DECIDE_MEDIAN_HOURS = 0.25  # decision logged after the conversation
DECIDE_SIGMA = 1.0
UNRESPONSIVE_MEDIAN_HOURS = 8.0  # rejected as unresponsive a while after the last attempt
UNRESPONSIVE_SIGMA = 0.5
STALE_DAYS = 90.0  # a rejected lead that has not come back by then is closed lost

CHANNELS = ("call", "email", "linkedin")
ATTEMPT_TYPES = ("call", "email", "linkedin message")  # the CRM's activity type per channel
ATTEMPT_MIX = (0.5, 0.35, 0.15)
CONNECT_MIX = (0.75, 0.2, 0.05)  # the attempt that reached the lead

# Reasons as the CRM writes them: raw values of the default `feedback.sdr_reasons`.
STUDENT, NOT_DM, NO_BUDGET, BAD_TIMING, COMPETITOR, WRONG_CONTACT, UNRESPONSIVE = range(7)
NONE = -1  # nothing against the lead
REASONS = (
    "student or job seeker",
    "not a decision maker",
    "no budget / company too small",
    "bad timing",
    "competitor or partner",
    "wrong contact",
    "unresponsive",
)
# P(accept) of a lead that will not buy, by the true cause (index REASONS; last: NONE).
ACCEPT_BY_CAUSE = np.array([0.03, 0.25, 0.25, 0.45, 0.1, 0.0, 0.0, 1.0])
SMALL_COMPANY = 20  # employees below which SDRs say "no budget"
PARTNER_COMPETITOR_SHARE = 0.5  # partner-sourced leads are often partners or competitors
OTHER_COMPETITOR_SHARE = 0.1
WRONG_CONTACT_SHARE = 0.04  # the person reached is not the one who buys (left, wrong number)
MISLABEL_SHARE = 0.08  # rejections logged with a convenient reason instead of the true one
MISLABEL_MIX = {
    BAD_TIMING: 0.35,
    NOT_DM: 0.25,
    UNRESPONSIVE: 0.2,
    NO_BUDGET: 0.1,
    WRONG_CONTACT: 0.1,
}
# SDR rating 1..5: fit as the call reveals it, plus timing, plus the decision, plus noise.
RATING_CENTRE, RATING_FIT_SCALE = -1.3, 0.8  # fit_logit standardised with these
RATING_READY, RATING_DECISION, RATING_NOISE = 0.4, 0.6, 0.7


class Lead(NamedTuple):
    """What the SDRs meet, per lead (aligned with the truth frame)."""

    seniority: np.ndarray
    employees: np.ndarray
    fit_logit: np.ndarray
    rival: np.ndarray  # bool: the company is a competitor or a partner
    ready_events: ReadyEvents


class ReadyEvents(NamedTuple):
    """The ready events (hand-raises) of all leads, sorted by (lead, time), as search keys."""

    key: np.ndarray  # lead * span + whole seconds
    span: int

    @classmethod
    def of(cls, lead: np.ndarray, day: np.ndarray, export: float) -> ReadyEvents:
        span = int(np.ceil(export * 86_400)) + 2
        return cls(lead.astype(np.int64) * span + _seconds(day), span)

    def next_after(self, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Per row, the first ready event strictly after t (days); NaN if none."""
        base = rows.astype(np.int64) * self.span
        at = np.searchsorted(self.key, base + _seconds(np.nan_to_num(t, nan=1e9)), side="right")
        hit = np.minimum(at, len(self.key) - 1) if len(self.key) else at
        found = (at < len(self.key)) & (self.key[hit] // self.span == rows) & ~np.isnan(t)
        return np.where(found, (self.key[hit] - base) / 86_400.0, np.nan)


def _seconds(day: np.ndarray) -> np.ndarray:
    return np.rint(np.minimum(day, 1e9) * 86_400).astype(np.int64)


class Attempts(NamedTuple):
    hours: np.ndarray  # (rows, MAX_ATTEMPTS) business hours of every possible attempt
    times: np.ndarray  # the same as float days
    n_try: np.ndarray  # the attempt that would reach the lead
    give_up: np.ndarray  # unanswered attempts before the SDR gives up
    channel: np.ndarray  # (rows, MAX_ATTEMPTS) index into CHANNELS


class Round(NamedTuple):
    """One SDR round of the leads `rows` (arrays aligned with rows)."""

    rows: np.ndarray
    mql: np.ndarray  # when the round began: the lead became (again) an MQL
    attempts: np.ndarray  # (rows, MAX_ATTEMPTS) times, NaN after the last attempt
    channel: np.ndarray  # (rows, MAX_ATTEMPTS) index into CHANNELS
    decided: np.ndarray  # the SDR's decision
    accepted: np.ndarray  # bool
    cause: np.ndarray  # the true cause (index REASONS, NONE)
    reason: np.ndarray  # the logged reason of a rejection (NONE when accepted)
    rating: np.ndarray  # 1..5
    back: np.ndarray  # rejected leads: when they became MQL again (NaN: not within the period)


def in_window(windows: Windows, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
    """In market and inside [window_start, window_end] at t."""
    with np.errstate(invalid="ignore"):
        return windows.in_market[rows] & (t >= windows.start[rows]) & (t <= windows.end[rows])


def is_ready(windows: Windows, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Sales-ready at t: in market, past ready_at and not past window_end."""
    with np.errstate(invalid="ignore"):
        return windows.in_market[rows] & (t >= windows.ready[rows]) & (t <= windows.end[rows])


def attempts(
    calendar: WorkCalendar,
    windows: Windows,
    rows: np.ndarray,
    mql: np.ndarray,
    rng: np.random.Generator,
) -> Attempts:
    """Every attempt the SDR would make on these leads (the decision says how many count)."""
    n = len(rows)
    first = np.minimum(
        rng.lognormal(np.log(FIRST_TOUCH_MEDIAN_HOURS), FIRST_TOUCH_SIGMA, n),
        FIRST_TOUCH_MAX_HOURS,
    )
    gaps = rng.lognormal(np.log(RETRY_MEDIAN_HOURS), RETRY_SIGMA, (n, MAX_ATTEMPTS - 1))
    steps = np.concatenate([first[:, None], gaps], axis=1)
    hours = calendar.hours(mql)[:, None] + np.cumsum(steps, axis=1)
    hours = np.rint(hours * 3_600.0) / 3_600.0
    times = calendar.moment(hours)
    shopping = in_window(windows, rows, times[:, 0])
    n_try = rng.geometric(np.where(shopping, CONNECT_IN_WINDOW, CONNECT_OTHER))
    sizes, shares = zip(*GIVE_UP_AFTER.items(), strict=True)
    give_up = rng.choice(np.array(sizes), size=n, p=np.array(shares))
    channel = rng.choice(len(CHANNELS), size=(n, MAX_ATTEMPTS), p=ATTEMPT_MIX)
    connecting = rng.choice(len(CHANNELS), size=n, p=CONNECT_MIX)
    last = np.minimum(n_try, MAX_ATTEMPTS) - 1
    channel[np.arange(n), last] = np.where(
        n_try <= give_up, connecting, channel[np.arange(n), last]
    )
    return Attempts(hours, times, n_try, give_up, channel.astype(np.int8))


def _cause(lead: Lead, rows: np.ndarray, ready: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """The first cause that holds (the order SDRs check them in), NONE if nothing does."""
    seniority = lead.seniority[rows]
    checks = [
        (seniority == "entry", STUDENT),
        (np.isin(seniority, ["individual", "unknown"]), NOT_DM),
        (lead.employees[rows] < SMALL_COMPANY, NO_BUDGET),
        (~ready, BAD_TIMING),
        (lead.rival[rows], COMPETITOR),
        (wrong, WRONG_CONTACT),
    ]
    return np.select([c for c, _ in checks], [code for _, code in checks], NONE).astype(np.int8)


def _mislabel(cause: np.ndarray, rejected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    codes = np.array(list(MISLABEL_MIX))
    shares = np.array(list(MISLABEL_MIX.values()))
    swap = rejected & (rng.random(len(cause)) < MISLABEL_SHARE)
    other = codes[rng.choice(len(codes), size=len(cause), p=shares / shares.sum())]
    return np.where(rejected, np.where(swap, other, cause), NONE).astype(np.int8)


def _rating(
    lead: Lead, rows: np.ndarray, ready: np.ndarray, accepted: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    fit = (lead.fit_logit[rows] - RATING_CENTRE) / RATING_FIT_SCALE
    score = (
        3.0
        + fit
        + RATING_READY * np.where(ready, 1.0, -1.0)
        + RATING_DECISION * np.where(accepted, 1.0, -1.0)
        + rng.normal(0.0, RATING_NOISE, len(rows))
    )
    return np.clip(np.rint(score), 1, 5).astype(np.int8)


def decide(
    number: int,
    calendar: WorkCalendar,
    windows: Windows,
    lead: Lead,
    mql: np.ndarray,
    rows: np.ndarray,
    tries: Attempts,
    buyer: np.ndarray,
    rng: np.random.Generator,
) -> Round:
    """Round `number` (0-based) of the leads `rows`, given their attempts; `buyer` (per row):
    the lead will be won (its luck beat the oracle at its first contact). Buyers always answer
    and are accepted, except that in the first round one reached while not sales-ready may be
    turned down as "bad timing" when it will come back (raise its hand within the period)."""
    n = len(rows)
    connected = buyer | (tries.n_try <= tries.give_up)
    n_att = np.where(connected, np.minimum(tries.n_try, MAX_ATTEMPTS), tries.give_up)
    wait = np.where(
        connected,
        rng.lognormal(np.log(DECIDE_MEDIAN_HOURS), DECIDE_SIGMA, n),
        rng.lognormal(np.log(UNRESPONSIVE_MEDIAN_HOURS), UNRESPONSIVE_SIGMA, n),
    )
    decided = calendar.moment(tries.hours[np.arange(n), n_att - 1] + wait)
    ready = is_ready(windows, rows, decided)
    wrong = rng.random(n) < WRONG_CONTACT_SHARE
    cause = np.where(connected, _cause(lead, rows, ready, wrong), UNRESPONSIVE).astype(np.int8)
    accepted = connected & (rng.random(n) < ACCEPT_BY_CAUSE[cause])
    comeback = lead.ready_events.next_after(rows, decided)
    will_return = comeback <= decided + STALE_DAYS
    early = buyer & ~ready & will_return & (number == 0)
    early &= rng.random(n) >= ACCEPT_BY_CAUSE[BAD_TIMING]
    accepted = np.where(buyer, ~early, accepted)
    cause = np.where(early, BAD_TIMING, cause).astype(np.int8)
    rejected = ~accepted
    last = number == MAX_ROUNDS - 1
    back = np.where(rejected & will_return & (not last), comeback, np.nan)
    keep = np.arange(MAX_ATTEMPTS)[None, :] < n_att[:, None]
    return Round(
        rows,
        mql,
        np.where(keep, tries.times, np.nan),
        tries.channel,
        decided,
        accepted,
        cause,
        _mislabel(cause, rejected, rng),
        _rating(lead, rows, ready, accepted, rng),
        round_seconds(back),
    )


def rival_companies(partner: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whether each lead's company is a competitor or partner (a fact, drawn once per lead)."""
    share = np.where(partner, PARTNER_COMPETITOR_SHARE, OTHER_COMPETITOR_SHARE)
    return rng.random(len(partner)) < share


def reason_names(codes: np.ndarray, names: tuple[str, ...]) -> pd.api.extensions.ExtensionArray:
    """Codes -> reason strings (missing for NONE)."""
    table = np.array([*names, None], dtype=object)
    return pd.array(table[np.where(codes < 0, len(names), codes)], dtype="str")
