"""Latent fit: how likely a lead is to buy if sales reaches it at the ideal moment.

The fit logit adds up what a revenue team would judge a lead on (title, industry, company
size, tech stack, region) plus a little that no column shows (budget, politics, a champion).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.synthetic import verticals
from training.synthetic.accounts import LEGACY, REQUIRED_CRMS, WAREHOUSES
from training.synthetic.geography import REGION_FIT, REGION_NAMES

INTERCEPT = -1.9
SENIORITY: dict[str, float] = {
    "c_level": 0.2,
    "vp": 0.45,
    "director": 0.4,
    "manager": 0.15,
    "individual": -0.25,
    "entry": -1.05,
    "unknown": -0.7,
}
DEPARTMENT: dict[str, float] = {
    "revops": 0.4,
    "sales": 0.35,
    "marketing": 0.15,
    "general_management": 0.1,
    "it": -0.15,
    "engineering": -0.3,
    "operations": -0.25,
    "finance": -0.3,
    "hr": -0.65,
    "other": -0.55,
    "unknown": -0.4,
}
BUYER_BONUS = 0.25  # VPs and directors of sales or revops own the problem the product solves
BUYER_SENIORITIES = ("vp", "director")
BUYER_DEPARTMENTS = ("sales", "revops")
SIZE_PEAK_LOG10 = 3.0  # 1,000 employees: the centre of the 200-5,000 sweet spot
SIZE_WIDTH_LOG10 = 0.75
SIZE_AMPLITUDE = 0.9
SIZE_OFFSET = 0.4  # so tiny and huge companies end up below zero
CRM_BONUS = 0.4  # runs Salesforce or HubSpot: the integration the product needs
WAREHOUSE_BONUS = 0.2
LEGACY_PENALTY = 0.3  # per legacy system: long, painful integrations
NOISE_SD = 0.25  # what no column shows


def title_logit(seniority: np.ndarray, department: np.ndarray) -> np.ndarray:
    sen = pd.Series(seniority).map(SENIORITY).to_numpy(dtype=np.float64)
    dep = pd.Series(department).map(DEPARTMENT).to_numpy(dtype=np.float64)
    buyer = np.isin(seniority, BUYER_SENIORITIES) & np.isin(department, BUYER_DEPARTMENTS)
    return sen + dep + BUYER_BONUS * buyer


def size_logit(employees: np.ndarray) -> np.ndarray:
    z = (np.log10(employees) - SIZE_PEAK_LOG10) / SIZE_WIDTH_LOG10
    return SIZE_AMPLITUDE * np.exp(-0.5 * z**2) - SIZE_OFFSET


def _uses(tech_stack: pd.Series, tools: tuple[str, ...]) -> np.ndarray:
    """How many of `tools` each ";"-separated stack lists."""
    padded = ";" + tech_stack.fillna("") + ";"
    found = [padded.str.contains(f";{t};", regex=False).to_numpy(dtype=bool) for t in tools]
    return np.sum(found, axis=0)


def stack_logit(tech_stack: pd.Series) -> np.ndarray:
    crm = _uses(tech_stack, REQUIRED_CRMS) > 0
    warehouse = _uses(tech_stack, WAREHOUSES) > 0
    return (
        CRM_BONUS * crm + WAREHOUSE_BONUS * warehouse - LEGACY_PENALTY * _uses(tech_stack, LEGACY)
    )


def account_logit(accounts: pd.DataFrame) -> np.ndarray:
    """The part of the fit logit that comes from the account (industry, size, stack, region)."""
    v = pd.Categorical(accounts["vertical"], categories=verticals.NAMES).codes
    r = pd.Categorical(accounts["region"], categories=REGION_NAMES).codes
    return (
        verticals.column("fit")[v]
        + REGION_FIT[r]
        + size_logit(accounts["employees"].to_numpy())
        + stack_logit(accounts["tech_stack"])
    )


def fit_logit(
    account_part: np.ndarray,
    seniority: np.ndarray,
    department: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per lead: intercept + account part + title part + unobserved noise."""
    noise = rng.normal(0.0, NOISE_SD, len(seniority))
    return INTERCEPT + account_part + title_logit(seniority, department) + noise
