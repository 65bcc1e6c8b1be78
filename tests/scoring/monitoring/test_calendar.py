"""Business hours on a calendar: hand-computed cases across a weekend, a holiday and both 2025 US
daylight-saving changes, and a property test against a minute-stepping reference in four zones
(one with a 30-minute change)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.config.sla import WEEKDAYS, CalendarSpec
from scoring.monitoring.calendar import BusinessCalendar

EVERY_DAY = list(WEEKDAYS)


def utc(text: str) -> np.datetime64:
    return np.datetime64(text, "us")


def times(*texts: str) -> np.ndarray:
    return np.array(texts, dtype="datetime64[us]")


def new_york(**kwargs: object) -> BusinessCalendar:
    return BusinessCalendar(CalendarSpec(timezone="America/New_York", **kwargs))


def test_office_hours_across_a_weekend():
    cal = new_york()  # Mon-Fri 09:00-17:00, EDT (UTC-4) in June
    friday_four_pm = utc("2025-06-06T20:00")
    assert cal.add_hours(friday_four_pm, 4) == utc("2025-06-09T16:00")  # 1 h Fri + 3 h Mon
    assert cal.hours_between(friday_four_pm, utc("2025-06-09T16:00")) == 4.0
    # Saturday noon to Monday 10:00 EDT: one business hour
    assert cal.hours_between(utc("2025-06-07T16:00"), utc("2025-06-09T14:00")) == 1.0
    # before opening and after closing count nothing
    assert cal.hours_between(utc("2025-06-09T05:00"), utc("2025-06-09T13:00")) == 0.0
    assert cal.hours_between(utc("2025-06-09T21:00"), utc("2025-06-10T13:00")) == 0.0
    # a start on Saturday: the hours start on Monday morning
    assert cal.add_hours(utc("2025-06-07T16:00"), 2.5) == utc("2025-06-09T15:30")
    # a whole week, Monday 09:00 to the next Monday 09:00
    assert cal.hours_between(utc("2025-06-09T13:00"), utc("2025-06-16T13:00")) == 40.0


def test_holidays_are_local_dates_off():
    cal = new_york(holidays=[dt.date(2025, 7, 4)])  # Friday
    thursday_four_pm = utc("2025-07-03T20:00")
    assert cal.add_hours(thursday_four_pm, 4) == utc("2025-07-07T16:00")  # Thu 1 h, Mon 3 h
    assert cal.hours_between(thursday_four_pm, utc("2025-07-07T16:00")) == 4.0
    assert cal.hours_between(utc("2025-07-04T13:00"), utc("2025-07-04T21:00")) == 0.0
    assert new_york().hours_between(utc("2025-07-04T13:00"), utc("2025-07-04T21:00")) == 8.0


def test_spring_forward_day_is_shorter():
    # 2025-03-09: New York's clocks jump from 02:00 EST to 03:00 EDT
    cal = new_york(weekdays=EVERY_DAY, opens=dt.time(0), closes=dt.time(6))
    opens, closes = cal.windows("2025-03-08", "2025-03-10")
    assert list(opens) == list(times("2025-03-08T05:00", "2025-03-09T05:00", "2025-03-10T04:00"))
    assert list(closes) == list(times("2025-03-08T11:00", "2025-03-09T10:00", "2025-03-10T10:00"))
    assert cal.hours_between(utc("2025-03-09T05:00"), utc("2025-03-09T12:00")) == 5.0
    # 01:00 EST + 2 business hours: 01:00 -> 02:00 EST is one, 03:00 -> 04:00 EDT the other
    assert cal.add_hours(utc("2025-03-09T06:00"), 2) == utc("2025-03-09T08:00")
    assert cal.hours_between(utc("2025-03-09T06:00"), utc("2025-03-09T08:00")) == 2.0
    # across the change, day to day: 6 + 5 + 6
    assert cal.hours_between(utc("2025-03-08T00:00"), utc("2025-03-11T00:00")) == 17.0


def test_fall_back_day_is_longer():
    # 2025-11-02: New York's clocks go back from 02:00 EDT to 01:00 EST
    cal = new_york(weekdays=EVERY_DAY, opens=dt.time(0), closes=dt.time(6))
    opens, closes = cal.windows("2025-11-02", "2025-11-02")
    assert (opens[0], closes[0]) == (utc("2025-11-02T04:00"), utc("2025-11-02T11:00"))
    assert cal.hours_between(utc("2025-11-02T00:00"), utc("2025-11-03T00:00")) == 7.0
    # 00:30 EDT + 3 business hours: through the repeated hour, 01:30 EST
    assert cal.add_hours(utc("2025-11-02T04:30"), 3) == utc("2025-11-02T07:30")
    assert cal.add_hours(utc("2025-11-02T04:30"), 6.5) == utc("2025-11-02T11:00")
    assert cal.add_hours(utc("2025-11-02T04:30"), 6.75) == utc("2025-11-03T05:15")


def test_opening_inside_the_skipped_or_repeated_hour():
    cal = new_york(weekdays=EVERY_DAY, opens=dt.time(1, 30), closes=dt.time(2, 30))
    # 02:30 does not exist on 2025-03-09: the day closes when the clock jumps to 03:00 EDT
    opens, closes = cal.windows("2025-03-09", "2025-03-09")
    assert (opens[0], closes[0]) == (utc("2025-03-09T06:30"), utc("2025-03-09T07:00"))
    # 01:30 shows twice on 2025-11-02: the day opens the first time (EDT), closes 02:30 EST
    opens, closes = cal.windows("2025-11-02", "2025-11-02")
    assert (opens[0], closes[0]) == (utc("2025-11-02T05:30"), utc("2025-11-02T07:30"))


def test_half_hour_changes_on_lord_howe_island():
    # UTC+10:30 in winter, +11 in summer: 2025-10-05 02:00 -> 02:30, 2025-04-06 02:00 -> 01:30
    spec = CalendarSpec(
        timezone="Australia/Lord_Howe",
        weekdays=EVERY_DAY,
        opens=dt.time(2, 15),
        closes=dt.time(2, 45),
    )
    opens, closes = BusinessCalendar(spec).windows("2025-10-05", "2025-10-05")
    assert (opens[0], closes[0]) == (utc("2025-10-04T15:30"), utc("2025-10-04T15:45"))
    spec = spec.model_copy(update={"opens": dt.time(1, 45)})
    cal = BusinessCalendar(spec)
    opens, closes = cal.windows("2025-04-06", "2025-04-06")
    assert (opens[0], closes[0]) == (utc("2025-04-05T14:45"), utc("2025-04-05T16:15"))
    assert cal.hours_between(utc("2025-04-05T00:00"), utc("2025-04-06T00:00")) == 1.5


def test_arrays_missing_values_and_order():
    cal = new_york()
    start = times("2025-06-09T13:00", "NaT", "2025-06-09T15:00")
    end = times("2025-06-09T15:00", "2025-06-09T15:00", "2025-06-09T13:00")
    np.testing.assert_array_equal(cal.hours_between(start, end), [2.0, np.nan, -2.0])
    due = cal.add_hours(start, np.array([1.0, 1.0, np.nan]))
    np.testing.assert_array_equal(due, times("2025-06-09T14:00", "NaT", "NaT"))
    assert cal.add_hours(utc("2025-06-09T20:00"), 0) == utc("2025-06-09T20:00")  # after hours
    np.testing.assert_array_equal(cal.hours_between(times(), times()), np.array([]))
    with pytest.raises(ValueError, match="negative"):
        cal.add_hours(start, -1)


def test_far_and_sparse_additions():
    # one working day a week, with its next four Mondays off: 16 h from a Monday morning
    offs = [dt.date(2025, 6, 16), dt.date(2025, 6, 23), dt.date(2025, 6, 30), dt.date(2025, 7, 7)]
    cal = BusinessCalendar(CalendarSpec(timezone="UTC", weekdays=["mon"], holidays=offs))
    assert cal.add_hours(utc("2025-06-09T09:00"), 16) == utc("2025-07-14T17:00")
    # a thousand working days ahead on the default calendar
    due = new_york().add_hours(utc("2025-06-09T13:00"), 8000)
    assert new_york().hours_between(utc("2025-06-09T13:00"), due) == 8000.0


# ---------------------------------------------------------------- property test


@cache
def _opening(zone: str, day: dt.date, wall: dt.time) -> dt.datetime:
    """The first UTC minute at which the local clock of `day` reads `wall` or later (by scanning
    the day's minutes: independent of the implementation's localisation)."""
    tz = ZoneInfo(zone)
    start = dt.datetime.combine(day, dt.time(0), tz).astimezone(dt.UTC) - dt.timedelta(hours=3)
    for minute in range(30 * 60):
        at = start + dt.timedelta(minutes=minute)
        local = at.astimezone(tz)
        if local.date() > day or (local.date() == day and local.time() >= wall):
            return at.replace(tzinfo=None)
    raise AssertionError("no such minute")


def _business_minute(spec: CalendarSpec, at: dt.datetime) -> bool:
    """Whether the minute starting at UTC `at` is business time."""
    local = at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(spec.timezone))
    for day in (local.date() - dt.timedelta(days=1), local.date()):
        if day.weekday() not in spec.weekday_numbers or day in spec.holidays:
            continue
        if (
            _opening(spec.timezone, day, spec.opens)
            <= at
            < _opening(spec.timezone, day, spec.closes)
        ):
            return True
    return False


ZONES = ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe"]
# minutes around each zone's 2025 changes, and ordinary weeks
AROUND = [
    dt.datetime(2025, 3, 7),
    dt.datetime(2025, 3, 28),
    dt.datetime(2025, 4, 4),
    dt.datetime(2025, 10, 3),
    dt.datetime(2025, 10, 24),
    dt.datetime(2025, 10, 31),
    dt.datetime(2025, 6, 12),
]
HOURS = st.sampled_from(
    [(0, 0, 6, 0), (9, 0, 17, 0), (1, 30, 3, 30), (2, 15, 2, 45), (0, 0, 23, 59), (22, 0, 23, 30)]
)


@st.composite
def calendars(draw: st.DrawFn) -> CalendarSpec:
    hours = draw(HOURS)
    weekdays = draw(st.lists(st.sampled_from(EVERY_DAY), min_size=1, max_size=7, unique=True))
    first = draw(st.sampled_from(AROUND)).date()
    holidays = draw(
        st.lists(st.integers(0, 6).map(lambda d: first + dt.timedelta(days=d)), max_size=2)
    )
    return CalendarSpec(
        timezone=draw(st.sampled_from(ZONES)),
        weekdays=weekdays,
        opens=dt.time(hours[0], hours[1]),
        closes=dt.time(hours[2], hours[3]),
        holidays=holidays,
    )


@settings(max_examples=60, deadline=None)
@given(
    spec=calendars(),
    base=st.sampled_from(AROUND),
    offset=st.integers(0, 5 * 24 * 60),
    span=st.integers(0, 4 * 24 * 60),
    add=st.integers(0, 12 * 60),
)
def test_matches_minute_stepping(
    spec: CalendarSpec, base: dt.datetime, offset: int, span: int, add: int
):
    cal = BusinessCalendar(spec)
    start = base + dt.timedelta(minutes=offset)
    end = start + dt.timedelta(minutes=span)
    minute = dt.timedelta(minutes=1)
    counted = sum(_business_minute(spec, start + i * minute) for i in range(span))
    forth = cal.hours_between(np.datetime64(start, "us"), np.datetime64(end, "us"))
    back = cal.hours_between(np.datetime64(end, "us"), np.datetime64(start, "us"))
    assert (forth * 60, back) == (pytest.approx(counted, abs=1e-9), -forth)

    # add: step minute by minute until `add` business minutes have passed (or give up after
    # three weeks: a calendar may have no working day in that time, the implementation must
    # then still land beyond it)
    at, done = start, 0
    while done < add and at < start + dt.timedelta(days=21):
        done += _business_minute(spec, at)
        at += minute
    due = cal.add_hours(np.datetime64(start, "us"), add / 60)
    if done == add:
        assert due == np.datetime64(at, "us")
    else:
        assert due > np.datetime64(at, "us")
