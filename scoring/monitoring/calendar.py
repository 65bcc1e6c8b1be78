"""Business hours on the sales team's calendar (`sla.calendar`), over whole arrays of instants.

Instants are naive UTC (numpy datetime64, any unit; NaT where missing), as everywhere in the
project. A working day is a local date on one of the calendar's weekdays and not a holiday; its
business window runs from the first instant the local wall clock reads `opens` to the first
instant it reads `closes`. So a window is always real time, exact across daylight-saving
changes: a wall time the clock skips (spring forward) is reached when the clock jumps past it,
and a wall time it shows twice (fall back) is reached the first time. A New York day open
00:00-06:00 has 5 business hours on 2025-03-09 and 7 on 2025-11-02.

Both questions are answered with a cumulative function: `B(t)`, the business time from the
start of a timeline of working windows up to instant t. The business hours between two instants
are `B(end) - B(start)` (negative when end comes first), and the instant h business hours after
a start is the first instant u with `B(u) = B(start) + h`: a binary search over the windows'
cumulative totals. A timeline spans the local dates of the instants at hand (a few years are a
few thousand windows), so a million clocks cost a few searchsorted calls.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.config.sla import CalendarSpec

US_PER_HOUR = 3_600_000_000
_DAY = np.timedelta64(1, "D")
_MAX_DAYS = 366 * 200  # a timeline longer than this means no working hours at all, in effect


def instants(values: object) -> np.ndarray:
    """Naive UTC instants as datetime64[us] (timezone-aware values are converted to UTC)."""
    if isinstance(values, pd.Series | pd.Index) and isinstance(values.dtype, pd.DatetimeTZDtype):
        values = (values.dt if isinstance(values, pd.Series) else values).tz_convert(None)
    if isinstance(values, pd.Timestamp | dt.datetime) and values.tzinfo is not None:
        values = pd.Timestamp(values).tz_convert(None)
    return np.asarray(values, dtype="datetime64[us]")


def _as_int(values: np.ndarray) -> np.ndarray:
    return values.astype("datetime64[us]").astype(np.int64)


def _time_offset(time: dt.time) -> np.timedelta64:
    micros = ((time.hour * 60 + time.minute) * 60 + time.second) * 1_000_000 + time.microsecond
    return np.timedelta64(micros, "us")


def utc_offsets(utc: np.ndarray, zone: str) -> np.ndarray:
    """The zone's UTC offset (timedelta64[us]) at each UTC instant."""
    index = pd.DatetimeIndex(utc.astype("datetime64[us]")).tz_localize("UTC").tz_convert(zone)
    local = index.tz_localize(None).as_unit("us").to_numpy()
    return local - utc.astype("datetime64[us]")


def first_reached(walls: np.ndarray, zone: str) -> np.ndarray:
    """The first UTC instant at which the zone's wall clock reads each local time `walls` (naive
    datetime64), or has passed it: the jump's instant for a wall time the clock skips, the
    earlier of the two for a wall time it shows twice."""
    walls = walls.astype("datetime64[us]")
    index = pd.DatetimeIndex(walls)
    found = index.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    out = found.tz_convert(None).as_unit("us").to_numpy().copy()
    near = np.isnat(out) & ~np.isnat(walls)
    if near.any():
        out[near] = _near_a_change(walls[near], zone)
    return out


def _near_a_change(walls: np.ndarray, zone: str) -> np.ndarray:
    """`first_reached` of wall times the clock shows twice or skips (pandas' own shift is off
    for a change of half an hour, as Lord Howe Island's). With the offsets on either side of the
    change, a wall time shown twice has two instants (the earlier is the first); for a skipped
    one, the change itself is found by bisection to the second (zone changes are whole
    seconds): before it the offset is the old one, at it the new one."""
    before, after = utc_offsets(walls - _DAY, zone), utc_offsets(walls + _DAY, zone)
    early, late = walls - before, walls - after
    shown_early = utc_offsets(early, zone) == before
    shown_late = utc_offsets(late, zone) == after
    big = np.datetime64("9999-12-31T00:00", "us")
    out = np.minimum(np.where(shown_early, early, big), np.where(shown_late, late, big))
    skipped = ~(shown_early | shown_late)
    if skipped.any():
        low, high, new = late[skipped], early[skipped], after[skipped]
        second = np.timedelta64(1, "s")
        while (wide := high - low > second).any():
            mid = low + (high - low) // 2
            moved = utc_offsets(mid, zone) == new
            high = np.where(wide & moved, mid, high)
            low = np.where(wide & ~moved, mid, low)
        out[skipped] = high
    return out


@dataclass(frozen=True)
class Timeline:
    """The working windows of local dates `first`..`last` (inclusive): UTC open and close
    instants (int64 microseconds) and the business time up to each window's close."""

    first: np.datetime64
    last: np.datetime64
    opens: np.ndarray
    closes: np.ndarray
    done: np.ndarray  # cumulative business microseconds at each close

    def elapsed(self, at: np.ndarray) -> np.ndarray:
        """B(at): business microseconds from the timeline's start to each instant (int64)."""
        if not len(self.opens):
            return np.zeros(at.shape, dtype=np.int64)
        i = np.searchsorted(self.opens, at, side="right") - 1
        j = np.maximum(i, 0)
        length = self.closes[j] - self.opens[j]
        inside = np.clip(at - self.opens[j], 0, length)
        return np.where(i < 0, 0, self.done[j] - length + inside)

    def reach(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The first instant at which B reaches each target (> 0), and whether the timeline was
        long enough to say."""
        j = np.searchsorted(self.done, target, side="left")
        known = j < len(self.done)
        k = np.minimum(j, max(len(self.done) - 1, 0))
        if not len(self.done):
            return np.zeros(target.shape, dtype=np.int64), known
        return self.closes[k] - (self.done[k] - target), known


class BusinessCalendar:
    """Business hours of a `CalendarSpec`, vectorised: `hours_between` and `add_hours`."""

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self.zone = spec.timezone
        self.weekdays = np.array(sorted(spec.weekday_numbers))
        self.holidays = np.array(sorted(spec.holidays), dtype="datetime64[D]")
        self.opens = _time_offset(spec.opens)
        self.closes = _time_offset(spec.closes)
        self.day_hours = (self.closes - self.opens) / np.timedelta64(1, "h")

    def working_days(self, first: np.datetime64, last: np.datetime64) -> np.ndarray:
        """The working local dates from `first` to `last` (inclusive), datetime64[D]."""
        days = np.arange(first, last + _DAY, dtype="datetime64[D]")
        weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
        return days[np.isin(weekday, self.weekdays) & ~np.isin(days, self.holidays)]

    def windows(self, first: object, last: object) -> tuple[np.ndarray, np.ndarray]:
        """UTC open and close instants (datetime64[us]) of the working days between the local
        dates `first` and `last` (inclusive)."""
        line = self.timeline(np.datetime64(first, "D"), np.datetime64(last, "D"))
        return line.opens.astype("datetime64[us]"), line.closes.astype("datetime64[us]")

    def timeline(self, first: np.datetime64, last: np.datetime64) -> Timeline:
        days = self.working_days(first, last)
        opens = _as_int(first_reached(days + self.opens, self.zone))
        closes = _as_int(first_reached(days + self.closes, self.zone))
        if len(opens) > 1:  # windows never overlap, whatever a zone's history did to its clocks
            opens[1:] = np.maximum(opens[1:], np.maximum.accumulate(closes)[:-1])
        closes = np.maximum(closes, opens)
        keep = closes > opens  # a window inside a skipped hour is empty
        opens, closes = opens[keep], closes[keep]
        return Timeline(first, last, opens, closes, np.cumsum(closes - opens))

    def _span(self, *arrays: np.ndarray) -> tuple[np.datetime64, np.datetime64] | None:
        """Local dates around every instant present (UTC offsets are within a day)."""
        present = [a[~np.isnat(a)] for a in arrays]
        present = [a for a in present if len(a)]
        if not present:
            return None
        low = min(a.min() for a in present).astype("datetime64[D]")
        high = max(a.max() for a in present).astype("datetime64[D]")
        return low - 2 * _DAY, high + 2 * _DAY

    def hours_between(self, start: object, end: object) -> np.ndarray:
        """Business hours from each `start` to its `end` (float; negative when end comes
        first, NaN when either is missing)."""
        begin, finish = np.broadcast_arrays(instants(start), instants(end))
        out = np.full(begin.shape, np.nan)
        ok = ~np.isnat(begin) & ~np.isnat(finish)
        span = self._span(begin[ok], finish[ok])
        if span is None:
            return out
        line = self.timeline(*span)
        moved = line.elapsed(_as_int(finish[ok])) - line.elapsed(_as_int(begin[ok]))
        out[ok] = moved / US_PER_HOUR
        return out

    def add_hours(self, start: object, hours: object) -> np.ndarray:
        """The instant `hours` business hours after each `start` (the first instant at which
        that many have passed; `start` itself for 0 hours): datetime64[us], NaT where the start
        or the hours are missing. Hours must not be negative."""
        begin = instants(start)
        amount = np.asarray(hours, dtype=float)
        begin, amount = np.broadcast_arrays(begin, amount)
        if (amount < 0).any():
            raise ValueError("business hours to add must not be negative")
        out = np.full(begin.shape, np.datetime64("NaT", "us"))
        ok = ~np.isnat(begin) & ~np.isnan(amount)
        zero = ok & (amount == 0)
        out[zero] = begin[zero]
        ok &= amount > 0
        span = self._span(begin[ok])
        if span is None:
            return out
        at = _as_int(begin[ok])
        step = np.rint(amount[ok] * US_PER_HOUR).astype(np.int64)
        first, last = span
        per_week = self.day_hours * len(self.weekdays)
        ahead = int(np.ceil(amount[ok].max() / per_week * 7)) + len(self.holidays) + 7
        while True:
            line = self.timeline(first, last + ahead * _DAY)
            found, known = line.reach(line.elapsed(at) + step)
            if known.all():
                break
            if ahead > _MAX_DAYS:
                raise ValueError(
                    "sla.calendar: no working hours within 200 years (weekdays and holidays)"
                )
            ahead *= 2
        out[ok] = found.astype("datetime64[us]")
        return out
