"""What sales sends back about each lead (`feedback:`): the reasons SDRs and AEs pick from, the
rating scale, and the CRM table that already records the same decisions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from scoring.config.base import NAME, Strict

# one row of lead_feedback is one of these
FeedbackKind = Literal[
    "contact_attempt",  # an SDR (or AE) call, email or message to the lead
    "sdr_accepted",  # the SDR handshake: accepted as SAL
    "sdr_rejected",  # ... rejected back to marketing, with a reason
    "ae_accepted",  # the AE accepted the lead as an SQL (an opportunity)
    "ae_disqualified",  # ... or disqualified it, with a reason
]
FEEDBACK_KINDS: tuple[str, ...] = FeedbackKind.__args__  # type: ignore[attr-defined]
REASON_KINDS = {"sdr_rejected": "sdr_reasons", "ae_disqualified": "ae_reasons"}


def _identity_lists(value: object) -> object:
    """`[a, b]` means {a: [a], b: [b]}; a name without raw values is its own raw value."""
    if isinstance(value, list):
        return {name: [name] for name in value}
    if isinstance(value, dict):
        return {k: (v if v else [k]) for k, v in value.items()}
    return value


def _check_names(value: dict[str, list[str]]) -> dict[str, list[str]]:
    seen: dict[str, str] = {}
    for name, raws in value.items():
        if not NAME.match(name):
            raise ValueError(f"reason name {name!r} must be snake_case")
        for raw in raws:
            key = raw.strip().lower()
            if key in seen and seen[key] != name:
                raise ValueError(f"raw value {raw!r} maps to both {seen[key]} and {name}")
            seen[key] = name
    return value


SDR_REASONS = {
    "not_ready": ["not ready", "bad timing"],
    "bad_fit": ["bad fit", "student or job seeker"],
    "no_budget": ["no budget", "no budget / company too small"],
    "not_decision_maker": ["not a decision maker"],
    "wrong_contact": ["wrong contact"],
    "duplicate": ["duplicate"],
    "competitor": ["competitor or partner"],
    "unresponsive": ["unresponsive"],
}
AE_REASONS = {
    "no_budget": ["no budget"],
    "no_need": ["no need"],
    "no_authority": ["no authority"],
    "bad_timing": ["bad timing"],
    "lost_to_competitor": ["lost to competitor"],
    "unresponsive": ["unresponsive", "went dark"],
}


class CrmFeedbackSpec(Strict):
    """A CRM table of sales activities holding the same feedback, one row per call, email or
    decision (a Salesforce Task/Activity export, HubSpot engagements): `leadscore feedback sync`
    and every rescoring run copy it into lead_feedback, so a team that records decisions in its
    CRM sends nothing to the API."""

    table: str
    lead_id: str
    type: str = Field(description="column of the activity type")
    timestamp: str
    types: dict[FeedbackKind, list[str]] = Field(
        min_length=1,
        description="feedback kind -> raw values of the type column (case-insensitive); rows of "
        "other types are not feedback",
    )
    id: str | None = Field(
        default=None,
        description="the CRM's activity id (feedback id `crm:<id>`); default: a digest of the "
        "lead, type and time",
    )
    reason: str | None = Field(default=None, description="column of the reject/disqualify reason")
    rating: str | None = Field(default=None, description="column of the SDR's lead-quality rating")
    channel: str | None = Field(default=None, description="column of a contact's channel")

    @field_validator("types", mode="before")
    @classmethod
    def _types(cls, value: object) -> object:
        return _identity_lists(value)

    @field_validator("types")
    @classmethod
    def _raw_values_once(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        seen: dict[str, str] = {}
        for kind, raws in value.items():
            for raw in raws:
                if (key := raw.strip().lower()) in seen:
                    raise ValueError(f"raw value {raw!r} maps to both {seen[key]} and {kind}")
                seen[key] = kind
        return value


class FeedbackSpec(Strict):
    """Sales feedback: reasons by name (what the API takes) with the raw values a CRM export
    writes for each (compared case-insensitively; a list of names means each is its own)."""

    sdr_reasons: dict[str, list[str]] = Field(
        default_factory=lambda: dict(SDR_REASONS),
        description="why an SDR rejects an MQL back to marketing: name -> raw values",
    )
    ae_reasons: dict[str, list[str]] = Field(
        default_factory=lambda: dict(AE_REASONS),
        description="why an AE disqualifies a sales-accepted lead: name -> raw values",
    )
    not_ready: list[str] = Field(
        default_factory=lambda: ["not_ready"],
        description="SDR reasons that mean 'right lead, too early': the lead returns to "
        "marketing and the threshold replay reads the rejection as a premature handoff",
    )
    bad_fit: list[str] = Field(
        default_factory=lambda: ["bad_fit", "no_budget", "not_decision_maker"],
        description="SDR reasons that mean 'never the right lead' (reported apart in the funnel)",
    )
    rating_max: int = Field(
        default=5, ge=2, le=10, description="lead-quality ratings go from 1 to this"
    )
    max_clock_skew_seconds: float = Field(
        default=300,
        ge=0,
        description="feedback dated this far after the server's clock is still taken (clocks "
        "drift); later is refused as a time in the future",
    )
    min_leads: int = Field(
        default=100,
        ge=1,
        description="handed-off leads with a measured first contact needed before measured "
        "response times replace costs.sdr_response_hours / ae_response_hours in the threshold "
        "study",
    )
    crm: CrmFeedbackSpec | None = None

    _names = field_validator("sdr_reasons", "ae_reasons", mode="before")(_identity_lists)
    _checked = field_validator("sdr_reasons", "ae_reasons")(_check_names)

    @model_validator(mode="after")
    def _known(self) -> FeedbackSpec:
        for key in ("not_ready", "bad_fit"):
            unknown = sorted(set(getattr(self, key)) - set(self.sdr_reasons))
            if unknown:
                raise ValueError(
                    f"{key} names unknown SDR reasons {unknown}; known: {list(self.sdr_reasons)}"
                )
        return self

    def reason(self, kind: str, given: str) -> str | None:
        """The reason name `given` (a name or a raw value) stands for, for feedback of `kind`;
        None when the kind's list does not have it."""
        reasons: dict[str, list[str]] = getattr(self, REASON_KINDS[kind])
        key = given.strip().lower()
        for name, raws in reasons.items():
            if key == name or key in (raw.strip().lower() for raw in raws):
                return name
        return None
