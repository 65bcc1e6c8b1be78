"""Deal sizes and sales-cycle lengths: both grow with the size of the company."""

from __future__ import annotations

import numpy as np

from training.synthetic import verticals

DEAL_BASE_USD = 8_000.0  # median first-year deal at a 100-person company
DEAL_REFERENCE_EMPLOYEES = 100.0
DEAL_EXPONENT = 0.35  # 10x the employees -> 2.2x the deal
DEAL_SIGMA = 0.35
CYCLE_MEDIAN_DAYS = 30.0  # SQL to close at a 100-person company
CYCLE_EXPONENT = 0.2  # 100x the employees -> 2.5x the cycle
CYCLE_SIGMA = 0.5
CYCLE_BOUNDS_DAYS = (7.0, 240.0)


def deal_sizes(employees: np.ndarray, vertical: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Amount (USD, rounded to 100) the lead's company would sign; `vertical` is an index."""
    scale = (employees / DEAL_REFERENCE_EMPLOYEES) ** DEAL_EXPONENT
    noise = rng.lognormal(0.0, DEAL_SIGMA, len(employees))
    return np.round(DEAL_BASE_USD * scale * verticals.column("deal_factor")[vertical] * noise, -2)


def sales_cycle_days(employees: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Days from SQL to close: lognormal, longer at bigger companies, capped."""
    median = CYCLE_MEDIAN_DAYS * (employees / DEAL_REFERENCE_EMPLOYEES) ** CYCLE_EXPONENT
    return np.clip(rng.lognormal(np.log(median), CYCLE_SIGMA), *CYCLE_BOUNDS_DAYS)
