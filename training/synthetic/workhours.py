"""The sales team's working hours: every call, decision and qualification happens inside them.

The SDRs and AEs work 09:00-17:00 America/New_York, Monday to Friday, except the US holidays
below (the same calendar as `sla.calendar` in configs/demo.yaml, so the SLA report measures
the world on the hours it was made with). Times stay float days since the world's origin (UTC);
a `WorkCalendar` converts them to business hours elapsed and back, vectorised.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

TIMEZONE = "America/New_York"
OPENS = dt.time(9)
CLOSES = dt.time(17)
WORKDAYS = (0, 1, 2, 3, 4)  # Monday..Friday
HOLIDAYS = tuple(
    dt.date.fromisoformat(d)
    for d in (
        "2024-01-01",
        "2024-05-27",
        "2024-07-04",
        "2024-09-02",
        "2024-11-28",
        "2024-12-25",
        "2025-01-01",
        "2025-05-26",
        "2025-07-04",
        "2025-09-01",
        "2025-11-27",
        "2025-12-25",
    )
)
SECONDS_PER_HOUR = 3_600.0


def _offset(t: dt.time) -> pd.Timedelta:
    return pd.Timedelta(hours=t.hour, minutes=t.minute, seconds=t.second)


class WorkCalendar:
    """Working days from `origin` for `days` calendar days (and a little before), as UTC instants
    in float days since `origin`.

    hours(t): business hours worked between the first working day and t;
    moment(h): when h business hours have been worked (the next opening when h falls on a day's
        close); moment(hours(t)) is t inside working hours, else the next opening after t.
    """

    def __init__(self, origin: pd.Timestamp, days: float) -> None:
        first = origin.normalize() - pd.Timedelta(days=2)
        dates = pd.date_range(first, periods=int(np.ceil(days)) + 5, freq="D")
        holidays = pd.DatetimeIndex([pd.Timestamp(d) for d in HOLIDAYS])
        dates = dates[np.isin(dates.day_of_week, WORKDAYS) & ~dates.isin(holidays)]

        def utc_days(at: dt.time) -> np.ndarray:
            local = (dates + _offset(at)).tz_localize(TIMEZONE).tz_convert("UTC")
            return ((local.tz_localize(None) - origin) / pd.Timedelta(days=1)).to_numpy()

        self.open = utc_days(OPENS)
        hours = (utc_days(CLOSES) - self.open) * 24.0  # of each working day, whole seconds
        self.length = np.rint(hours * SECONDS_PER_HOUR) / SECONDS_PER_HOUR
        self.start_hours = np.r_[0.0, np.cumsum(self.length)[:-1]]  # worked before each day

    def hours(self, t: np.ndarray) -> np.ndarray:
        """Business hours worked up to `t` (float days); NaN stays NaN."""
        t = np.asarray(t, dtype=np.float64)
        day = np.searchsorted(self.open, np.nan_to_num(t, nan=-np.inf), side="right") - 1
        before = day < 0
        day = np.maximum(day, 0)
        within = np.clip((t - self.open[day]) * 24.0, 0.0, self.length[day])
        worked = np.where(before, 0.0, self.start_hours[day] + within)
        return np.where(np.isnan(t), np.nan, worked)

    def moment(self, h: np.ndarray) -> np.ndarray:
        """When `h` business hours have been worked (float days, whole seconds); NaN stays NaN."""
        h = np.rint(np.asarray(h, dtype=np.float64) * SECONDS_PER_HOUR) / SECONDS_PER_HOUR
        day = np.searchsorted(self.start_hours, np.nan_to_num(h, nan=0.0), side="right") - 1
        day = np.clip(day, 0, len(self.open) - 1)
        seconds = np.rint((self.open[day] + (h - self.start_hours[day]) / 24.0) * 86_400.0)
        return np.where(np.isnan(h), np.nan, seconds / 86_400.0)

    def after(self, t: np.ndarray, business_hours: np.ndarray | float = 0.0) -> np.ndarray:
        """`business_hours` of work after `t`: with 0, t itself inside working hours, else the
        next opening."""
        return self.moment(self.hours(t) + business_hours)
