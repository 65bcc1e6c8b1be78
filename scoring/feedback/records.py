"""One piece of sales feedback as a client sends it (POST /feedback, a row of an imported file,
a row of the CRM's activity table): the shape checks that need no database."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from scoring.config.feedback import REASON_KINDS, FeedbackKind
from scoring.data.values import Integer, LeadId, Moment, Name

MAX_ITEMS = 1000  # feedback items a request
DECISIONS = ("sdr_accepted", "sdr_rejected")  # the ones an SDR may rate

ShortName = Annotated[Name, StringConstraints(max_length=64)]


class FeedbackItem(BaseModel):
    """One contact attempt or decision about one lead."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Name = Field(
        description="your id of this feedback (e.g. the CRM activity id): sending it again is a "
        "no-op, so a retry never writes twice; the same id with other content is a 409"
    )
    lead_id: LeadId = Field(description="the lead (the config's leads.id)")
    kind: FeedbackKind
    occurred_at: Moment = Field(
        description="when it happened, ISO 8601 (no offset: UTC); not in the future nor before "
        "the lead was created"
    )
    reason: ShortName | None = Field(
        default=None,
        validate_default=True,
        description="sdr_rejected and ae_disqualified only, and required there: a reason name of "
        "the config's feedback.sdr_reasons / ae_reasons (or one of its raw values)",
    )
    rating: Integer | None = Field(
        default=None,
        ge=1,
        validate_default=True,
        description="SDR decisions only: lead quality from 1 to the config's feedback.rating_max",
    )
    channel: ShortName | None = Field(
        default=None,
        validate_default=True,
        description="contact attempts only: call, email, linkedin, ...",
    )

    @field_validator("reason")
    @classmethod
    def _reason_where_due(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind in REASON_KINDS and value is None:
            raise ValueError(f"a reason is required for {kind}")
        if kind is not None and kind not in REASON_KINDS and value is not None:
            raise ValueError(f"only {' and '.join(REASON_KINDS)} take a reason, not {kind}")
        return value

    @field_validator("rating")
    @classmethod
    def _rating_of_decisions(cls, value: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("kind")
        if value is not None and kind is not None and kind not in DECISIONS:
            raise ValueError(f"only SDR decisions ({', '.join(DECISIONS)}) take a rating")
        return value

    @field_validator("channel")
    @classmethod
    def _channel_of_contacts(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if value is not None and kind is not None and kind != "contact_attempt":
            raise ValueError("only contact_attempt takes a channel")
        return value


class FeedbackRequest(BaseModel):
    """POST /feedback's body."""

    model_config = ConfigDict(extra="forbid")

    feedback: list[FeedbackItem] = Field(min_length=1, max_length=MAX_ITEMS)


def located(errors: list[Any], prefix: tuple[str | int, ...] = ()) -> list[dict]:
    """Pydantic's errors as the API reports problems, without the values sent."""
    return [{"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in errors]
