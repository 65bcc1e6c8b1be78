"""Industry profiles: how each vertical shapes companies, tech stacks, fit and deal sizes."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Vertical(NamedTuple):
    share: float  # share of accounts
    revenue_per_employee: float  # USD, median annual revenue per employee
    size_shift: float  # added to log(employees): public bodies are big, agencies small
    tech_affinity: float  # logit shift for modern SaaS tools (CRM, warehouse, Slack)
    legacy_affinity: float  # logit shift for legacy systems
    fit: float  # latent: fit logit shift (how well the product suits the industry)
    deal_factor: float  # latent: deal size multiplier


VERTICALS: dict[str, Vertical] = {
    "software": Vertical(0.22, 250_000, 0.0, 1.0, -1.0, 0.45, 1.0),
    "fintech": Vertical(0.08, 400_000, 0.1, 0.8, -0.3, 0.35, 1.25),
    "healthcare": Vertical(0.09, 180_000, 0.4, -0.3, 1.0, -0.2, 1.15),
    "manufacturing": Vertical(0.12, 300_000, 0.6, -0.5, 1.3, -0.15, 1.1),
    "retail": Vertical(0.10, 200_000, 0.3, 0.0, 0.4, 0.0, 0.9),
    "education": Vertical(0.07, 90_000, 0.2, -0.4, 0.5, -0.45, 0.7),
    "logistics": Vertical(0.07, 250_000, 0.4, -0.2, 1.0, -0.1, 1.0),
    "media": Vertical(0.08, 220_000, -0.2, 0.4, -0.2, 0.1, 0.85),
    "public_sector": Vertical(0.05, 120_000, 1.0, -0.8, 1.5, -0.55, 1.2),
    "professional_services": Vertical(0.12, 160_000, -0.3, 0.2, 0.0, 0.1, 0.9),
}

NAMES = np.array(list(VERTICALS), dtype=object)


def column(field: str) -> np.ndarray:
    """One attribute of every vertical, in the order of NAMES."""
    return np.array([getattr(v, field) for v in VERTICALS.values()], dtype=np.float64)
