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
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
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
from scoring.data.values import (
    Boolean,
    Integer,
    LeadId,
    Moment,
    Name,
    Number,
    Text,
    at_least,
)
from scoring.settings import settings

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
