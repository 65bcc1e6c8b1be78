"""Values of the API's request bodies, shared by /score and /feedback (and a feedback import):
what the OpenAPI document says is what is accepted, no more (scoring.serving.schema explains)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

MAX_TEXT = 1000  # characters of any text field


def _text_of_number(value: object) -> object:
    """CRMs send codes as numbers too (a country code, a numeric id): take them as text, every
    digit of an id up to 30 digits, any other number short (-1.8e308 was 309 digits, over the
    length limit of an id that the document does not set on numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value) if abs(value) < 10**30 else f"{Decimal(value):.15g}"


Text = Annotated[
    Annotated[str, StringConstraints(max_length=MAX_TEXT)] | None,
    BeforeValidator(_text_of_number),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "maxLength": MAX_TEXT}, {"type": "number"}, {"type": "null"}]}
    ),
]
# a character Python's str.strip() keeps, as `scoring.data` strips: ECMA's \S took "\x1e" (blank
# to Python: a 422 "missing event type" for a body the document said was valid)
NOT_SPACE = (
    "[^\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
)
NAME = {"type": "string", "pattern": NOT_SPACE, "maxLength": 200}  # not blank


def _not_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("blank: send a name with at least one character that is not a space")
    return stripped


Name = Annotated[
    str,
    StringConstraints(max_length=200),  # as sent, as the document counts
    AfterValidator(_not_blank),
    WithJsonSchema(NAME),
]
LeadId = Annotated[
    Name,
    BeforeValidator(_text_of_number),
    WithJsonSchema({"anyOf": [NAME, {"type": "number"}]}),
]
DECIMAL = r"^-?[0-9]{1,15}([.][0-9]{1,15})?$"
_DECIMAL = re.compile(DECIMAL)


def _number(value: object) -> object:
    """A JSON number, or a decimal number as text; not a boolean, nor "1e999" or " 12 "."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise ValueError("expected a number, or a decimal number as text such as '850'")
        return float(value)
    return value


Number = Annotated[
    float | None,
    Field(allow_inf_nan=False),
    BeforeValidator(_number),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": DECIMAL}, {"type": "null"}]}
    ),
]
UNSIGNED = DECIMAL.replace("^-?", "^")


def at_least(minimum: float) -> Any:
    """A number of a field with `min:` in the config: the document says the minimum, so a smaller
    one is a 400 naming the field (the batch's check would make it a 422 the document did not
    announce). As text, a minimum of 0 or more takes no minus sign ("-0" neither); a pattern
    cannot say "at least 18", so there the document shows the minimum of JSON numbers only."""
    text = UNSIGNED if minimum >= 0 else DECIMAL

    def check(value: object) -> object:
        if isinstance(value, str) and minimum >= 0 and value.startswith("-"):
            raise ValueError(f"expected a number of at least {minimum:g}, as text without a sign")
        return value

    def not_below(value: float | None) -> float | None:
        if value is not None and value < minimum:
            raise ValueError(f"expected a number of at least {minimum:g}")
        return value

    return Annotated[
        float | None,
        Field(allow_inf_nan=False),
        BeforeValidator(_number),
        BeforeValidator(check),  # runs first: the last before-validator is the outermost
        AfterValidator(not_below),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "number", "minimum": minimum},
                    {"type": "string", "pattern": text},
                    {"type": "null"},
                ]
            }
        ),
    ]


def _integer(value: object) -> object:
    """JSON Schema's integer: 3 and 3.0 (the same number), not "3" nor true."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, Strict(), BeforeValidator(_integer)]
Boolean = Annotated[bool, Strict()]


_DAY = (
    "((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    "|02-(0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_DAY = "([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29"
_TIME = "[Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,9})?)?"
_OFFSET = "([Zz]|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])"
# ISO 8601: a real calendar day, a time (seconds optional) and an offset (none: UTC), or a day
# alone (midnight UTC). Not year 0, nor the first day with an offset east of UTC or the last
# with one west of it: before year 1 or after 9999 once in UTC, which Python cannot hold.
TIMESTAMP = (
    "^(?!0000|0001-01-01[Tt ][^+]*[+]|9999-12-31[Tt ][^-]*-)"
    f"([0-9]{{4}}-{_DAY}|{_LEAP_DAY})({_TIME}{_OFFSET}?)?$"
)
_TIMESTAMP = re.compile(TIMESTAMP)


def _timestamp(value: object) -> object:
    """Text shaped as `TIMESTAMP`: Unix seconds and the other shapes pydantic takes refused."""
    if isinstance(value, datetime):  # from Python, not JSON
        return value
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise ValueError(
            "expected an ISO 8601 timestamp such as 2025-06-01T09:30:00Z (no offset: UTC)"
        )
    return value


def _naive_utc(value: datetime) -> datetime:
    """The moment in naive UTC, as `scoring.data` reads a naive timestamp. (Naive, the timestamps
    of a request also convert in a few ms instead of pandas' second on 100,000 offset-aware
    ones, during which the event loop could not answer.)"""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


Moment = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    AfterValidator(_naive_utc),
    WithJsonSchema({"type": "string", "pattern": TIMESTAMP}),
]
