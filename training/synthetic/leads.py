"""Leads as the CRM first records them: who (account, title), where from, and when."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from training.synthetic.clock import round_seconds
from training.synthetic.titles import TITLES, sample_titles

LEAD_SOURCES: dict[str, float] = {
    "organic_search": 0.22,
    "paid_search": 0.14,
    "webinar": 0.09,
    "content_syndication": 0.15,
    "referral": 0.06,
    "event": 0.08,
    "outbound_list": 0.19,
    "partner": 0.07,
}
ACCOUNT_SIZE_EXPONENT = 0.45  # bigger companies produce more leads, less than proportionally
GROWTH = 0.6  # the last month brings 1.6x the leads of the first
WEEKEND_WEIGHT = 0.3
LEADS_PER_ACCOUNT = 3.5


def n_accounts_for(n_leads: int) -> int:
    return max(1, round(n_leads / LEADS_PER_ACCOUNT))


def _creation_days(n: int, start: pd.Timestamp, span_days: int, rng: np.random.Generator):
    """Float days since start: a mild growth trend, quiet weekends, office hours."""
    day = np.arange(span_days)
    weekday = (start + pd.to_timedelta(day, unit="D")).day_of_week.to_numpy()
    weight = (1.0 + GROWTH * day / span_days) * np.where(weekday >= 5, WEEKEND_WEIGHT, 1.0)
    picked = rng.choice(span_days, size=n, p=weight / weight.sum())
    hour = np.where(rng.random(n) < 0.5, rng.normal(10.5, 2.0, n), rng.normal(15.0, 2.5, n))
    return np.sort(picked + np.clip(hour, 0.0, 23.99) / 24.0)


class LeadDraw(NamedTuple):
    frame: pd.DataFrame  # lead_id, account_id, title, lead_source (creation order)
    account: np.ndarray  # row of the lead's account in the accounts frame
    title: np.ndarray  # index into TITLES
    source: np.ndarray  # index into LEAD_SOURCES
    created: np.ndarray  # float days since the start of the history, whole seconds


def generate_leads(
    n: int,
    accounts: pd.DataFrame,
    start: pd.Timestamp,
    span_days: int,
    rng: np.random.Generator,
) -> LeadDraw:
    """n leads in creation order."""
    employees = accounts["employees"].to_numpy()
    weight = employees.astype(np.float64) ** ACCOUNT_SIZE_EXPONENT
    account = rng.choice(len(accounts), size=n, p=weight / weight.sum())
    title = sample_titles(employees[account], rng)
    shares = np.array(list(LEAD_SOURCES.values()))
    source = rng.choice(len(shares), size=n, p=shares / shares.sum())
    created = _creation_days(n, start, span_days, rng)
    ids = pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(7)
    forms = np.array([t[0] for t in TITLES], dtype=object)
    leads = pd.DataFrame(
        {
            "lead_id": ("L" + ids).astype("str"),
            "account_id": accounts["account_id"].take(account).reset_index(drop=True),
            "title": pd.array(forms[title], dtype="str"),
            "lead_source": pd.array(np.array(list(LEAD_SOURCES))[source], dtype="str"),
        }
    )
    return LeadDraw(leads, account, title, source, round_seconds(created))
