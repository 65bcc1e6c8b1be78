"""The handoff agreement between marketing and sales (`sla:`), on a business calendar."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from scoring.config.base import Strict

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = Weekday.__args__  # type: ignore[attr-defined]


class CalendarSpec(Strict):
    """When the sales team works: business hours are counted only inside these."""

    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Berlin")
    weekdays: list[Weekday] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1
    )
    opens: dt.time = Field(default=dt.time(9), description="local time the working day starts")
    closes: dt.time = Field(default=dt.time(17), description="local time it ends")
    holidays: list[dt.date] = Field(default_factory=list, description="local dates off")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Europe/Berlin)"
            ) from None
        return value

    @model_validator(mode="after")
    def _hours(self) -> CalendarSpec:
        if self.opens >= self.closes:
            raise ValueError("opens must be before closes (hours within one local day)")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def weekday_numbers(self) -> frozenset[int]:
        """Python's weekday numbers (Monday 0) of the working days."""
        return frozenset(WEEKDAYS.index(day) for day in self.weekdays)


class SlaSpec(Strict):
    """Both sides of the agreement; a rule set to null is not checked. Sales' clocks start when
    the lead is handed over (its MQL time: the funnel's first stage, else the first move to mql
    or sql in lead_stage_history) and stop at the first contact or the SDR's decision."""

    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    mql_delivery_hours: float | None = Field(
        default=24.0,
        gt=0,
        description="marketing: an MQL reaches sales within this many (clock) hours of the "
        "activity that made it cross the cut-off",
    )
    first_touch_business_hours: float | None = Field(
        default=4.0, gt=0, description="sales: first contact within this many business hours"
    )
    min_attempts: int | None = Field(
        default=3,
        ge=1,
        description="sales: at least this many contact attempts within attempts_within_days, "
        "unless the SDR decides sooner",
    )
    attempts_within_days: float = Field(default=7.0, gt=0, description="calendar days")
    sal_to_sql_days: float | None = Field(
        default=14.0,
        gt=0,
        description="sales: an AE accepts or disqualifies a sales-accepted lead within this many "
        "calendar days",
    )
    recent_days: float = Field(
        default=30.0, gt=0, description="`leadscore sla` lists breaches this recent"
    )
