"""Time inside the generator: float days since an origin; datetime64[us] at the boundary."""

from __future__ import annotations

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400
US_PER_DAY = 86_400_000_000


def to_datetimes(days: np.ndarray, origin: pd.Timestamp) -> np.ndarray:
    """Days since `origin` -> datetime64[us] rounded to whole seconds; NaN -> NaT."""
    days = np.asarray(days, dtype=np.float64)
    missing = np.isnan(days)
    seconds = np.rint(np.where(missing, 0.0, days) * SECONDS_PER_DAY).astype(np.int64)
    out = np.datetime64(origin.as_unit("us").to_datetime64(), "us") + seconds.astype("m8[s]")
    out[missing] = np.datetime64("NaT")
    return out.astype("M8[us]")


def epoch_days(values: object) -> np.ndarray:
    """Float days since 1970-01-01 of timestamps (Series, array, scalar); NaT -> NaN."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.dtype.kind != "M":
        arr = np.asarray(pd.to_datetime(np.atleast_1d(arr)).to_numpy())
    arr = np.atleast_1d(arr).astype("M8[us]")
    days = arr.astype(np.int64) / US_PER_DAY
    days[np.isnat(arr)] = np.nan
    return days


def days_since(values: object, origin: pd.Timestamp) -> np.ndarray:
    """Float days since `origin`; NaT -> NaN."""
    return epoch_days(values) - epoch_days(origin)[0]


def round_seconds(days: np.ndarray) -> np.ndarray:
    """Days rounded to whole seconds, so equal instants stay equal after conversion."""
    return np.rint(np.asarray(days, dtype=np.float64) * SECONDS_PER_DAY) / SECONDS_PER_DAY
