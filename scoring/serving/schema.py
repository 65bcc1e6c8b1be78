"""Request and response models of the real-time endpoint, generated from the data-source config.

The lead model has one field per configured input column, typed by the field's kind, so the
OpenAPI document (/docs.json) shows the real fields and a wrong type gets a 4xx naming the field:

- numeric -> number, or a decimal number as text ("850": HubSpot sends every value as text);
- boolean -> true/false or one of the config's yes/no words (any case);
- timestamp -> ISO 8601 text (`TIMESTAMP`); categorical, job title, tags -> text (numbers are
  taken as text);
- the lead id (required, text or number); `events`: recent activity with a type and a timestamp.

What the document says is what is accepted, no more: pydantic's lax mode also took `"yes"` or 1
for `explain`, `"3"` for `top` and Unix seconds (`0`, `"1700000000"`) for a timestamp, which the
document did not say; they are refused here, naming the field.

Unknown categories and missing values are fine: they are scored like the batch job scores them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
    create_model,
    model_validator,
)

from scoring.config import (
    BooleanField,
    Config,
    FieldSpec,
    JobTitleField,
    NumericField,
    TagsField,
    TimestampField,
)
from scoring.settings import settings

MAX_TEXT = 1000  # characters of any text field
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


def _yes_no(field: BooleanField):
    """true/false, or one of the config's yes/no words (any case), to the word the batch data
    uses, so validation maps it exactly as it maps the lead database."""
    true_words = {v.lower(): v for v in field.true_values}
    false_words = {v.lower(): v for v in field.false_values}
    words = re.compile(yes_no_pattern(field))

    def check(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, bool):
            return field.true_values[0] if value else field.false_values[0]
        if isinstance(value, str) and words.fullmatch(value):
            key = value.strip(" ").lower()
            if key == "":
                return None
            return true_words[key] if key in true_words else false_words[key]
        raise ValueError(
            f"expected true/false or one of {[*field.true_values, *field.false_values]}"
        )

    return check


def _any_case(char: str) -> str:
    if char.isalpha():
        return f"[{char.upper()}{char.lower()}]"
    return f"\\{char}" if char in "[]^\\" else f"[{char}]"


def yes_no_pattern(field: BooleanField) -> str:
    """The yes/no words in any case, spaces around, or blank (missing): as a JSON Schema pattern
    (character classes, no flags: ECMA 262 and Python read it alike)."""
    words = [
        "".join(_any_case(c) for c in word.lower())
        for word in sorted({*field.true_values, *field.false_values}, key=str.lower)
    ]
    return f"^[ ]*({'|'.join(words)})?[ ]*$"


def _field_type(field: FieldSpec) -> Any:
    if isinstance(field, NumericField):
        return Number if field.min is None else at_least(field.min)
    if isinstance(field, BooleanField):
        words = {"type": "string", "pattern": yes_no_pattern(field)}
        return Annotated[
            bool | str | None,
            BeforeValidator(_yes_no(field)),
            WithJsonSchema({"anyOf": [{"type": "boolean"}, words, {"type": "null"}]}),
            Field(json_schema_extra={"examples": [True, field.true_values[0]]}),
        ]
    if isinstance(field, TimestampField):
        return Moment | None
    return Text


def _description(field: FieldSpec) -> str:
    kind = field.kind.replace("_", " ")
    text = f"{field.business_label} ({kind})"
    if isinstance(field, JobTitleField):
        text += ": free text, e.g. 'VP Sales'; seniority and department are derived from it"
    if isinstance(field, TagsField):
        tags = [t for tags in field.groups.values() for t in tags]
        text += f": values separated by '{field.separator}', e.g. {field.separator.join(tags[:2])}"
    return text


class Event(BaseModel):
    """One activity of the lead, as the CRM or website logged it."""

    model_config = ConfigDict(extra="forbid")

    type: Name
    timestamp: Moment = Field(description="ISO 8601; without an offset it is taken as UTC")


def _python_name(column: str, taken: set[str]) -> str:
    name = column if _IDENT.match(column) else re.sub(r"\W+", "_", column).strip("_") or "field"
    if not name[0].isalpha():
        name = f"f_{name}"
    while name in taken or name in ("events", "model_config"):
        name += "_"
    taken.add(name)
    return name


def lead_model(cfg: Config) -> type[BaseModel]:
    """The lead as the CRM or website sends it: the config's id and fields (by column name)."""
    taken: set[str] = set()
    fields: dict[str, Any] = {}
    columns: dict[str, str] = {}  # python name -> config column
    id_name = _python_name(cfg.leads.id, taken)
    fields[id_name] = (LeadId, Field(alias=cfg.leads.id, description="the lead's id in the CRM"))
    columns[id_name] = cfg.leads.id
    for field in (*cfg.features.fit, *cfg.features.intent):
        if field.column == cfg.leads.id:
            continue
        name = _python_name(field.column, taken)
        fields[name] = (
            _field_type(field),
            Field(default=None, alias=field.column, description=_description(field)),
        )
        columns[name] = field.column
    if cfg.events is not None:
        known = [raw for raws in cfg.events.types.values() for raw in raws]
        fields["events"] = (
            list[Event],
            Field(
                default_factory=list,
                max_length=settings().max_events,
                description=f"recent activity, newest or oldest first; known types: {known}; "
                "other types count as activity",
            ),
        )
    model = create_model(
        "Lead",
        __config__=ConfigDict(extra="forbid", populate_by_name=True),
        __doc__=f"A lead of the `{cfg.name}` data source, as the CRM or website sends it.",
        **fields,
    )
    model.__columns__ = columns  # type: ignore[attr-defined]
    model.__id_field__ = id_name  # type: ignore[attr-defined]
    return model


def record(lead: BaseModel) -> dict[str, object]:
    """A validated lead as the record `scoring.data` takes (config column -> raw value)."""
    columns: dict[str, str] = type(lead).__columns__  # type: ignore[attr-defined]
    return {column: getattr(lead, name) for name, column in columns.items()}


def request_model(cfg: Config) -> type[BaseModel]:
    """The body of POST /score: one `lead` or a list of `leads`, and the scoring options."""
    lead = lead_model(cfg)

    def one_of(self: BaseModel) -> BaseModel:
        if (self.lead is None) == (self.leads is None):  # type: ignore[attr-defined]
            raise ValueError("send either `lead` (one lead) or `leads` (a list), not both")
        return self

    return create_model(
        "ScoreRequest",
        __config__=ConfigDict(extra="forbid"),
        __validators__={"one_of": model_validator(mode="after")(one_of)},
        lead=(lead | None, Field(default=None, description="one lead")),
        leads=(
            list[lead] | None,  # type: ignore[valid-type]
            Field(
                default=None,
                min_length=1,
                max_length=settings().max_leads,
                description="several leads",
            ),
        ),
        as_of=(
            Moment | None,
            Field(
                default=None,
                description="score as of this moment (ISO 8601, UTC if no offset); default now. "
                "Events after it are ignored, as in the batch job.",
            ),
        ),
        explain=(Boolean, Field(default=True, description="add reasons (false is faster)")),
        top=(Integer, Field(default=3, ge=1, le=10, description="reasons per list")),
    )


# ---------------------------------------------------------------- response


def _aware_utc(value: datetime) -> datetime:
    """Naive UTC (as scored) with its offset, so it is an RFC 3339 date-time: `...Z`."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Reason(BaseModel):
    field: str = Field(description="business field: a config column, an event type, ...")
    label: str
    model: Literal["fit", "intent"]
    impact: float = Field(description="points of win probability (1 pt = 1%)")
    text: str = Field(examples=["Visited the pricing page 3 times in the last 7 days: +9.1 pts"])


class SqlGap(BaseModel):
    expected_revenue_gap: float = Field(description="expected revenue missing to the SQL cut-off")
    win_probability_needed: float = Field(description="win probability that would make it SQL")
    points_needed: float = Field(description="points of win probability missing")
    text: str


class Reasons(BaseModel):
    baseline_probability: float = Field(description="win probability of the average lead")
    positive: list[Reason] = Field(description="what raises the win probability, biggest first")
    negative: list[Reason] = Field(description="what lowers it, biggest first")
    fit: list[Reason] = Field(description="the fit model's reasons (who the lead is)")
    intent: list[Reason] = Field(description="the intent model's reasons (what the lead does)")
    impacts: dict[str, float] = Field(
        description="every field's impact in points; they sum to 100 x (p - baseline)"
    )
    to_sql: SqlGap | None = Field(description="for a lead below SQL: what it lacks")


class LeadScore(BaseModel):
    lead_id: str
    fit_score: float | None = Field(description="0-100: share of training leads it beats on fit")
    intent_score: float | None = Field(description="0-100: the same on intent")
    win_probability: float = Field(description="calibrated probability of winning the deal")
    expected_revenue: float = Field(description="win probability x expected deal size")
    stage: Literal["nurture", "mql", "sql"]
    grade: str = Field(description="fit letter A-D x intent digit 1-4; A1 is best")
    model_version: str
    as_of: Annotated[datetime, AfterValidator(_aware_utc)] = Field(
        description="the moment scored, in UTC (RFC 3339, e.g. 2025-06-01T00:00:00Z)"
    )
    reasons: Reasons | None = None


class ScoreResponse(BaseModel):
    model: str = Field(description="registered model and version that scored the leads")
    scores: list[LeadScore]
