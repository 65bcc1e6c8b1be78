"""Times inside the feature builder: float days since the epoch, so windows and decay are plain
array arithmetic; `as_of` as one time or one per lead."""

from __future__ import annotations

import numpy as np
import pandas as pd

_US_PER_DAY = 86_400 * 1_000_000


def to_days(values: pd.Series | np.ndarray) -> np.ndarray:
    """Timestamps -> float days since the epoch (NaN for NaT)."""
    arr = np.asarray(values, dtype="datetime64[us]")
    days = arr.astype("int64") / _US_PER_DAY
    return np.where(np.isnat(arr), np.nan, days)


def as_of_days(as_of: object, ids: pd.Index | np.ndarray) -> np.ndarray:
    """`as_of` (None = now, a timestamp, a Series by lead id, or a datetime64 array aligned with
    the leads) as float days, one per lead."""
    n = len(ids)
    if isinstance(as_of, np.ndarray) and as_of.dtype.kind == "M":
        values = np.broadcast_to(as_of.astype("datetime64[us]"), (n,))
    else:
        if as_of is None:
            as_of = pd.Timestamp.now(tz="UTC")
        if isinstance(as_of, pd.Series):
            as_of = as_of.reindex(pd.Index(ids))
        stamps = pd.to_datetime(as_of, utc=True)
        stamps = (
            stamps.tz_convert(None)
            if not isinstance(stamps, pd.Series)
            else stamps.dt.tz_convert(None)
        )
        values = np.broadcast_to(np.asarray(stamps, dtype="datetime64[us]"), (n,))
    if np.isnat(values).any():
        raise ValueError("as_of: every lead needs a point in time")
    return to_days(values)
