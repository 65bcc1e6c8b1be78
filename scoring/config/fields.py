"""Configured input columns (`features: fit / intent`) and how each kind becomes features."""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator

from scoring.config.base import NAME, Strict, as_texts, slug


class _Field(Strict):
    """A configured input column and how it becomes features."""

    column: str
    name: str | None = Field(default=None, description="feature base name; default: the column")
    label: str | None = Field(default=None, description="business name shown in reasons")
    missing_values: list[str] = Field(
        default_factory=list,
        description="placeholders that mean missing in this column, on top of the source's "
        "`leads.missing_values`",
    )

    _missing_as_texts = field_validator("missing_values", mode="before")(as_texts)

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str | None) -> str | None:
        if value is not None and not NAME.match(value):
            raise ValueError(f"{value!r} must be snake_case (a-z, 0-9, _)")
        return value

    @property
    def base_name(self) -> str:
        return self.name or slug(self.column)

    @property
    def business_label(self) -> str:
        return self.label or self.column.replace("_", " ").strip().capitalize()


class CategoricalField(_Field):
    kind: Literal["categorical"]


class NumericField(_Field):
    kind: Literal["numeric"]
    bands: list[float] | None = Field(
        default=None, description="ascending cut points; adds a `<name>_band` categorical feature"
    )
    min: float | None = Field(
        default=None,
        description="smallest valid value (e.g. 0 for a count): a row below it is rejected with "
        "the field named, like a value that is not a number",
    )

    @field_validator("bands")
    @classmethod
    def _ascending(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (not value or any(lo >= hi for lo, hi in pairwise(value))):
            raise ValueError("bands must be a non-empty strictly ascending list")
        return value


class BooleanField(_Field):
    kind: Literal["boolean"]
    true_values: list[str] = Field(default_factory=lambda: ["yes", "true", "1", "y", "t"])
    false_values: list[str] = Field(default_factory=lambda: ["no", "false", "0", "n", "f"])

    _as_texts = field_validator("true_values", "false_values", mode="before")(as_texts)


class JobTitleField(_Field):
    """Free-text job title, normalised to seniority and department."""

    kind: Literal["job_title"]


class TagsField(_Field):
    """A delimited set of values (e.g. a tech stack) turned into flags and group counts."""

    kind: Literal["tags"]
    separator: str = ";"
    groups: dict[str, list[str]] = Field(
        min_length=1, description="group name -> tags; one flag per tag and a count per group"
    )


class TimestampField(_Field):
    """A date column turned into days before `as_of` (e.g. last activity in a snapshot)."""

    kind: Literal["timestamp"]


DatePart = Literal["month", "weekday", "hour", "days_since"]


class DatePartField(TimestampField):
    """Parts of a date column as features: month and weekday (categories), hour of the day and
    days since (numbers), each as of the point in time (a later date is unknown)."""

    kind: Literal["date_part"]  # type: ignore[assignment]
    parts: list[DatePart] = Field(default_factory=lambda: ["month", "weekday"], min_length=1)


FieldSpec = Annotated[
    CategoricalField
    | NumericField
    | BooleanField
    | JobTitleField
    | TagsField
    | TimestampField
    | DatePartField,
    Field(discriminator="kind"),
]


class FeatureGroups(Strict):
    fit: list[FieldSpec] = Field(default_factory=list, description="who the lead is")
    intent: list[FieldSpec] = Field(default_factory=list, description="what the lead does")
