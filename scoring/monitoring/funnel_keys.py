"""How the funnel report keys its groups: None for unknown, whole numbers as ints, months as
YYYY-MM, score bands by index (labelled "5-10%")."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scoring.config import Config
from scoring.data.arrays import per_distinct
from scoring.monitoring import funnel_sql as q


def key(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return int(value) if isinstance(value, float | np.floating | np.integer) else value


def is_key(values: pd.Series, key: Any) -> pd.Series:
    if key is None:
        return values.isna()
    return values == key


def dimension_keys(values: pd.Series | np.ndarray, dim: str) -> np.ndarray:
    """A dimension's values as the cube keys them: month as YYYY-MM, band as its index, None
    where unknown (converted once per distinct value: a million leads have a few dozen)."""
    if dim == "month":
        return per_distinct(np.asarray(values, dtype=object), q.month_text)
    if dim == "band":
        return per_distinct(
            np.asarray(values, dtype=object), lambda v: None if pd.isna(v) else int(v)
        )
    return per_distinct(np.asarray(values, dtype=object), key)


def band_label(index: int, edges: list[float]) -> str:
    """ "5-10%" for the band from 0.05 to 0.10 (the last band ends at 100%)."""
    bounds = [0.0, *edges, 1.0]
    return f"{bounds[index] * 100:g}-{bounds[index + 1] * 100:g}%"


def label(dim: str, key: Any, cfg: Config) -> Any:
    if dim == "band" and key is not None:
        return band_label(int(key), cfg.report.score_bands)
    return key


def dimension_values(values: pd.Series, dim: str, cfg: Config) -> list[Any]:
    return [label(dim, k, cfg) for k in dimension_keys(values, dim)]
