"""Buying windows: whether a lead is in market, when the window opens, peaks and closes."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from training.synthetic.clock import round_seconds
from training.synthetic.leads import LEAD_SOURCES

# P(in market) by lead source: people who search or get referred are often shopping; bought
# lists and syndicated content mostly are not.
IN_MARKET_RATE: dict[str, float] = {
    "organic_search": 0.42,
    "paid_search": 0.45,
    "webinar": 0.35,
    "content_syndication": 0.2,
    "referral": 0.55,
    "event": 0.36,
    "outbound_list": 0.14,
    "partner": 0.45,
}
FIT_EFFECT = 0.35  # in-market logit shift per unit of fit logit above FIT_REFERENCE
FIT_REFERENCE = -1.6
ALREADY_SHOPPING_SHARE = 0.3  # the window opened before the lead signed up ...
ALREADY_SHOPPING_MAX_DAYS = 21.0  # ... at most this many days before
LATER_MEDIAN_DAYS = 20.0  # otherwise it opens later: lognormal delay after sign-up
LATER_SIGMA = 1.0
DURATION_MEDIAN_DAYS = 30.0
DURATION_SIGMA = 0.6
READY_BETA = (2.0, 3.0)  # where in the window the lead becomes sales-ready (mean 40% in)
MIN_AFTER_READY_DAYS = 1.0


class Windows(NamedTuple):
    """Float days since the start of the history; NaN when the lead is not in market."""

    in_market: np.ndarray
    start: np.ndarray
    ready: np.ndarray
    end: np.ndarray


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1.0 - p))


def in_market_probability(source: np.ndarray, fit_logit: np.ndarray) -> np.ndarray:
    rates = np.array([IN_MARKET_RATE[s] for s in LEAD_SOURCES])[source]
    logit = _logit(rates) + FIT_EFFECT * (fit_logit - FIT_REFERENCE)
    return 1.0 / (1.0 + np.exp(-logit))


def buying_windows(
    created: np.ndarray, source: np.ndarray, fit_logit: np.ndarray, rng: np.random.Generator
) -> Windows:
    """Windows for leads created at `created` (days) from source index `source`."""
    n = len(created)
    in_market = rng.random(n) < in_market_probability(source, fit_logit)
    already = rng.random(n) < ALREADY_SHOPPING_SHARE
    offset = np.where(
        already,
        -rng.random(n) * ALREADY_SHOPPING_MAX_DAYS,
        rng.lognormal(np.log(LATER_MEDIAN_DAYS), LATER_SIGMA, n),
    )
    start = created + offset
    duration = rng.lognormal(np.log(DURATION_MEDIAN_DAYS), DURATION_SIGMA, n)
    # A lead cannot raise its hand in the CRM before it exists: ready no earlier than sign-up.
    ready = np.maximum(start + duration * rng.beta(*READY_BETA, n), created)
    end = np.maximum(start + duration, ready + MIN_AFTER_READY_DAYS)
    missing = np.where(in_market, 1.0, np.nan)
    return Windows(
        in_market,
        round_seconds(start * missing),
        round_seconds(ready * missing),
        round_seconds(end * missing),
    )
