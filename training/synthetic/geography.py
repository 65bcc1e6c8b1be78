"""Regions and their countries, with the latent fit shift of each region."""

from __future__ import annotations

import numpy as np

# region -> (share of accounts, fit logit shift, {country: weight within region})
REGIONS: dict[str, tuple[float, float, dict[str, float]]] = {
    "north_america": (0.50, 0.15, {"United States": 0.86, "Canada": 0.14}),
    "emea": (
        0.30,
        0.0,
        {
            "United Kingdom": 0.24,
            "Germany": 0.18,
            "France": 0.11,
            "Netherlands": 0.08,
            "Sweden": 0.05,
            "Spain": 0.06,
            "Italy": 0.05,
            "Ireland": 0.04,
            "Switzerland": 0.04,
            "Poland": 0.04,
            "Israel": 0.04,
            "United Arab Emirates": 0.04,
            "South Africa": 0.03,
        },
    ),
    "apac": (
        0.12,
        -0.15,
        {
            "Australia": 0.30,
            "Singapore": 0.15,
            "Japan": 0.15,
            "India": 0.25,
            "New Zealand": 0.05,
            "South Korea": 0.10,
        },
    ),
    "latam": (
        0.08,
        -0.25,
        {"Brazil": 0.40, "Mexico": 0.28, "Argentina": 0.12, "Chile": 0.10, "Colombia": 0.10},
    ),
}

REGION_NAMES = np.array(list(REGIONS), dtype=object)
REGION_FIT = np.array([fit for _, fit, _ in REGIONS.values()], dtype=np.float64)


def sample_places(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(region, country) string arrays for n accounts; each country lies in its region."""
    shares = np.array([share for share, _, _ in REGIONS.values()])
    region = rng.choice(len(REGIONS), size=n, p=shares / shares.sum())
    country = np.empty(n, dtype=object)
    for r, (_, _, countries) in enumerate(REGIONS.values()):
        rows = np.flatnonzero(region == r)
        names = np.array(list(countries), dtype=object)
        weights = np.array(list(countries.values()))
        country[rows] = names[rng.choice(len(names), size=len(rows), p=weights / weights.sum())]
    return REGION_NAMES[region], country
