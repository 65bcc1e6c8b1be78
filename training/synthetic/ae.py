"""The account executives: a sales-accepted lead becomes an opportunity or is disqualified.

The AE looks at an accepted lead a few days later (lognormal, median 4 days; 6% take longer than
the 14-day SLA) in working hours. Leads that will be won always become opportunities; the others
do with SQL_AFTER_ACCEPT and are otherwise disqualified with the true cause as of that moment
(or, for a share, a convenient one). Times are float days since the origin.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from training.synthetic import sdr
from training.synthetic.windows import Windows
from training.synthetic.workhours import WorkCalendar

QUALIFY_MEDIAN_DAYS = 4.0
QUALIFY_SIGMA = 0.8
QUALIFY_MAX_DAYS = 45.0
SQL_AFTER_ACCEPT = 0.4  # accepted leads that will not buy still become opportunities this often
NO_BUDGET_EMPLOYEES = 50  # below this an AE finds no budget for the deal
NO_BUDGET, NO_NEED, NO_AUTHORITY, BAD_TIMING, LOST_TO_COMPETITOR, WENT_DARK = range(6)
# As the CRM writes them: raw values of the default `feedback.ae_reasons`.
REASONS = ("no budget", "no need", "no authority", "bad timing", "lost to competitor", "went dark")
MISLABEL_SHARE = 0.08
MISLABEL_MIX = {WENT_DARK: 0.4, NO_NEED: 0.3, BAD_TIMING: 0.3}


class Qualification(NamedTuple):
    """Per lead; NaN / NONE where the lead was never sales-accepted."""

    decided: np.ndarray  # the AE's decision
    to_sql: np.ndarray  # bool: an opportunity was created
    cause: np.ndarray  # true cause against the lead then (index REASONS, sdr.NONE)
    reason: np.ndarray  # the logged reason of a disqualification (sdr.NONE otherwise)


def _cause(lead: sdr.Lead, windows: Windows, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
    checks = [
        (~windows.in_market[rows], NO_NEED),
        (np.isin(lead.seniority[rows], ["entry", "individual", "unknown"]), NO_AUTHORITY),
        (lead.employees[rows] < NO_BUDGET_EMPLOYEES, NO_BUDGET),
        (~sdr.is_ready(windows, rows, t), BAD_TIMING),
        (lead.rival[rows], LOST_TO_COMPETITOR),
    ]
    return np.select([c for c, _ in checks], [code for _, code in checks], sdr.NONE)


def qualify(
    calendar: WorkCalendar,
    windows: Windows,
    lead: sdr.Lead,
    accepted_at: np.ndarray,
    won: np.ndarray,
    rng: np.random.Generator,
) -> Qualification:
    n = len(accepted_at)
    delay = np.minimum(
        rng.lognormal(np.log(QUALIFY_MEDIAN_DAYS), QUALIFY_SIGMA, n), QUALIFY_MAX_DAYS
    )
    to_sql = ~np.isnan(accepted_at) & (won | (rng.random(n) < SQL_AFTER_ACCEPT))
    decided = calendar.after(accepted_at + delay)
    rows = np.arange(n)
    cause = _cause(lead, windows, rows, decided)
    disqualified = ~np.isnan(accepted_at) & ~to_sql
    # a lead with nothing against it that still does not buy stopped answering
    cause = np.where(disqualified & (cause == sdr.NONE), WENT_DARK, cause)
    cause = np.where(np.isnan(accepted_at), sdr.NONE, cause).astype(np.int8)
    codes = np.array(list(MISLABEL_MIX))
    shares = np.array(list(MISLABEL_MIX.values()))
    swap = disqualified & (rng.random(n) < MISLABEL_SHARE)
    other = codes[rng.choice(len(codes), size=n, p=shares / shares.sum())]
    reason = np.where(disqualified, np.where(swap, other, cause), sdr.NONE).astype(np.int8)
    return Qualification(decided, to_sql, cause, reason)
