"""Accounts: firmographics (industry, place, size, revenue, age) and the tech stack."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from training.synthetic import verticals
from training.synthetic.geography import sample_places
from training.synthetic.names import company_names

CRMS = ("Salesforce", "HubSpot", "Pipedrive", "Microsoft Dynamics")
WAREHOUSES = ("Snowflake", "BigQuery", "Redshift")
MARKETING_AUTOMATION = ("Marketo", "Pardot")
COLLABORATION = ("Slack", "Microsoft Teams")
LEGACY = ("SAP R/3", "Lotus Notes", "Oracle EBS", "Siebel")
REQUIRED_CRMS = ("Salesforce", "HubSpot")  # the product integrates with these
TOOLS = (*CRMS, *WAREHOUSES, *MARKETING_AUTOMATION, *COLLABORATION, *LEGACY)

MEDIAN_EMPLOYEES = 60
EMPLOYEE_LOG_SD = 1.7
MIN_EMPLOYEES, MAX_EMPLOYEES = 2, 200_000
UNENRICHED_SHARE = 0.08  # accounts the enrichment vendor knows nothing about: empty stack

# CRM brand shares by size band (<100, 100-2000, >2000 employees)
_CRM_SHARES = np.array(
    [[0.28, 0.42, 0.24, 0.06], [0.45, 0.33, 0.08, 0.14], [0.58, 0.12, 0.02, 0.28]]
)
_LEGACY_BASE = np.array([-4.6, -5.6, -4.9, -5.2])  # per LEGACY tool, at 1 employee


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _employees(vertical: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shift = verticals.column("size_shift")[vertical]
    log_emp = rng.normal(np.log(MEDIAN_EMPLOYEES) + shift, EMPLOYEE_LOG_SD)
    return np.clip(np.rint(np.exp(log_emp)), MIN_EMPLOYEES, MAX_EMPLOYEES).astype(np.int64)


def _annual_revenue(
    vertical: np.ndarray, employees: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    per_employee = verticals.column("revenue_per_employee")[vertical]
    revenue = employees * per_employee * rng.lognormal(0.0, 0.45, len(employees))
    return np.round(revenue, -3)


def _founded_year(employees: np.ndarray, year: int, rng: np.random.Generator) -> np.ndarray:
    median_age = 5.0 + 6.0 * np.log10(employees)  # big companies are older
    age = np.rint(rng.lognormal(np.log(median_age), 0.6))
    return np.clip(year - age, 1850, year).astype(np.int64)


def _one_of(options: tuple[str, ...], probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise categorical draw from per-row probabilities (n, k)."""
    cum = np.cumsum(probs, axis=1)
    pick = (rng.random(len(probs))[:, None] > cum[:, :-1]).sum(axis=1)
    return np.array(options, dtype=object)[pick]


class _Profile(NamedTuple):
    size: np.ndarray  # log10(employees)
    tech: np.ndarray  # vertical affinity for modern SaaS
    legacy: np.ndarray  # vertical affinity for legacy systems
    band: np.ndarray  # size band of _CRM_SHARES


def _crm(p: _Profile, rng: np.random.Generator) -> dict[str, np.ndarray]:
    has = rng.random(len(p.size)) < _sigmoid(-0.6 + 0.9 * p.size + 0.5 * p.tech)
    shares = _CRM_SHARES[p.band].copy()
    shares[:, 3] *= np.where(p.legacy > 0.5, 2.0, 1.0)  # Dynamics in Microsoft-heavy industries
    crm = _one_of(CRMS, shares / shares.sum(axis=1, keepdims=True), rng)
    return {name: has & (crm == name) for name in CRMS}


def _warehouse(p: _Profile, rng: np.random.Generator) -> dict[str, np.ndarray]:
    has = rng.random(len(p.size)) < _sigmoid(-4.0 + 1.0 * p.size + 1.0 * p.tech)
    wh = _one_of(WAREHOUSES, np.tile([0.45, 0.30, 0.25], (len(p.size), 1)), rng)
    return {name: has & (wh == name) for name in WAREHOUSES}


def _marketing(
    p: _Profile, salesforce: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    n = len(p.size)
    has = rng.random(n) < _sigmoid(-3.6 + 0.9 * p.size + 0.4 * p.tech)
    pardot = salesforce & (rng.random(n) < 0.6)  # Pardot is sold with Salesforce
    return {"Marketo": has & ~pardot, "Pardot": has & pardot}


def _chat(p: _Profile, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(p.size)
    chat = rng.random(n) < _sigmoid(0.5 + 0.4 * p.size)
    slack = rng.random(n) < _sigmoid(0.2 + 1.2 * p.tech - 0.3 * p.size)
    both = rng.random(n) < 0.1
    return {"Slack": chat & (slack | both), "Microsoft Teams": chat & (~slack | both)}


def _legacy(p: _Profile, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        name: rng.random(len(p.size)) < _sigmoid(base + 0.8 * p.size + 1.0 * p.legacy)
        for name, base in zip(LEGACY, _LEGACY_BASE, strict=True)
    }


def _stack_flags(
    vertical: np.ndarray, employees: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """One boolean column per tool in TOOLS."""
    p = _Profile(
        np.log10(employees),
        verticals.column("tech_affinity")[vertical],
        verticals.column("legacy_affinity")[vertical],
        np.searchsorted(np.array([100, 2000]), employees, side="right"),
    )
    flags = {**_crm(p, rng), **_warehouse(p, rng)}
    flags |= _marketing(p, flags["Salesforce"], rng)
    flags |= _chat(p, rng) | _legacy(p, rng)
    frame = pd.DataFrame(flags)[list(TOOLS)]
    frame.loc[rng.random(len(frame)) < UNENRICHED_SHARE] = False
    return frame


def stack_strings(flags: pd.DataFrame) -> pd.Series:
    """Stacks as "Salesforce;Slack;Snowflake" strings ("" when no tool is known)."""
    joined = pd.Series("", index=flags.index, dtype=object)
    for name in flags.columns:
        joined = joined + np.where(flags[name].to_numpy(), name + ";", "")
    return joined.str.rstrip(";").astype("str")


def generate_accounts(n: int, year: int, rng: np.random.Generator) -> pd.DataFrame:
    """n accounts: account_id, company_name, vertical, country, region, employees,
    annual_revenue, founded_year, tech_stack."""
    shares = verticals.column("share")
    vertical = rng.choice(len(shares), size=n, p=shares / shares.sum())
    region, country = sample_places(n, rng)
    employees = _employees(vertical, rng)
    vertical_names = verticals.NAMES[vertical]
    ids = pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(5)
    return pd.DataFrame(
        {
            "account_id": ("A" + ids).astype("str"),
            "company_name": pd.array(company_names(vertical_names, country, rng), dtype="str"),
            "vertical": pd.array(vertical_names, dtype="str"),
            "country": pd.array(country, dtype="str"),
            "region": pd.array(region, dtype="str"),
            "employees": employees,
            "annual_revenue": _annual_revenue(vertical, employees, rng),
            "founded_year": _founded_year(employees, year, rng),
            "tech_stack": stack_strings(_stack_flags(vertical, employees, rng)),
        }
    )
