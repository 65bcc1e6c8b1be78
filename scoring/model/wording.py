"""Reasons in a sales rep's words: the business fields of a model's features, and a sentence for
each field's value ("Job title: VP, RevOps", "Last hand-raise less than a day ago")."""

from __future__ import annotations

from dataclasses import dataclass

from scoring.config import Config
from scoring.features import FeatureInfo
from scoring.model.scorer import LeadScorer

# Event types a CRM commonly logs: (what the lead did, plural noun when it did not).
_EVENT_WORDS: dict[str, tuple[str, str]] = {
    "pricing_page": ("Visited the pricing page", "pricing page visits"),
    "demo_request": ("Requested a demo", "demo requests"),
    "contact_form": ("Filled in the contact form", "contact form requests"),
    "trial_signup": ("Signed up for a trial", "trial sign-ups"),
    "webinar": ("Attended a webinar", "webinars attended"),
    "web_visit": ("Visited the website", "website visits"),
    "email_open": ("Opened a marketing email", "email opens"),
    "email_click": ("Clicked a marketing email", "email clicks"),
    "competitor_comparison": ("Read a competitor comparison", "competitor comparisons read"),
    "content_download": ("Downloaded content", "content downloads"),
}


@dataclass(frozen=True)
class Group:
    field: str  # business field: a config column, an event type, "engagement" or "hand_raise"
    model: str  # "fit" or "intent"
    label: str
    kind: str  # the config field's kind, or "event" / "engagement" / "hand_raise"
    features: tuple[FeatureInfo, ...]


def business_groups(scorer: LeadScorer) -> list[Group]:
    """Business fields in spec order, each with its features and a readable name."""
    cfg = scorer.config
    labels = {f.column: f.business_label for f in (*cfg.features.fit, *cfg.features.intent)}
    labels |= {"engagement": "Overall engagement", "hand_raise": "Hand-raises"}
    kinds = {f.column: f.kind for f in (*cfg.features.fit, *cfg.features.intent)}
    kinds |= {"engagement": "engagement", "hand_raise": "hand_raise"}
    grouped: dict[tuple[str, str], list[FeatureInfo]] = {}
    for info in scorer.spec:
        grouped.setdefault((info.field, info.group), []).append(info)
    return [
        Group(
            field,
            model,
            labels.get(field, field.replace("_", " ").capitalize()),
            kinds.get(field, "event"),
            tuple(fs),
        )
        for (field, model), fs in grouped.items()
    ]


def _number(value: float) -> str:
    if value != value:
        return "unknown"
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.3g}M"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _times(n: float) -> str:
    n = int(n)
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _days(value: float) -> str:
    if value != value:
        return "never"
    if value < 1:
        return "less than a day ago"
    days = int(value)
    return "1 day ago" if days == 1 else f"{days} days ago"


def _event_sentence(info: FeatureInfo, value: float, cfg: Config) -> str:
    """e.g. "Visited the pricing page 3 times in the last 7 days"."""
    t = info.field
    verb, noun = _EVENT_WORDS.get(t, (f"{t.replace('_', ' ').capitalize()}:", t.replace("_", " ")))
    if info.name == f"{t}_ever":
        return f"{verb} (so far)" if value >= 1 else f"No {noun} so far"
    window = info.name.removeprefix(f"{t}_").removesuffix("d")
    if value != value or value == 0:
        return f"No {noun} in the last {window} days"
    if verb.endswith(":"):
        return f"{verb} {int(value)} in the last {window} days"
    return f"{verb} {_times(value)} in the last {window} days"


def _engagement_sentence(info: FeatureInfo, value: float) -> str:
    name = info.name
    if name.startswith("events_"):
        n, window = int(value), name.removeprefix("events_").removesuffix("d")
        return f"{n} activit{'y' if n == 1 else 'ies'} in the last {window} days"
    if name == "days_since_last_event":
        return "No activity yet" if value != value else f"Last activity {_days(value)}"
    if name == "days_since_first_event":
        return "No activity yet" if value != value else f"First activity {_days(value)}"
    if name == "hand_raises":
        n = int(value)
        return "No hand-raise yet" if n == 0 else f"{n} hand-raise{'s' if n > 1 else ''} so far"
    if name == "days_since_hand_raise":
        return "No hand-raise yet" if value != value else f"Last hand-raise {_days(value)}"
    if name == "engagement_score":
        return f"Engagement score {_number(value)} (recent activity counts most)"
    return f"{info.label}: {_number(value)}"


_WORDS = {"revops": "RevOps", "c_level": "C-level", "vp": "VP", "it": "IT", "hr": "HR"}


def _category(value: object) -> str:
    """A category as people write it: "software" -> "Software", "emea" -> "EMEA"."""
    if not isinstance(value, str):
        return "unknown"
    if value in _WORDS:
        return _WORDS[value]
    words = value.replace("_", " ")
    return words.upper() if len(words) <= 3 or words == "emea" else words[0].upper() + words[1:]


def _field_sentence(group: Group, info: FeatureInfo, value: object, row: dict) -> str:
    """A config field's value in words, e.g. "Industry: software", "Title: VP, sales"."""
    label, kind = group.label, group.kind
    if kind == "job_title":
        seniority = row.get(group.features[0].name)
        department = row.get(group.features[-1].name)
        if seniority in (None, "unknown") and department in (None, "unknown"):
            return f"{label}: not recognised"
        return f"{label}: {_category(seniority)}, {_category(department)}"
    if kind == "tags":
        present = [
            f.label.split(": ", 1)[1]
            for f in group.features
            if not f.name.endswith("_count") and _flag(row.get(f.name))
        ]
        if info.name.endswith("_count") or not present:
            what = ", ".join(present) if present else "none of the tracked tools"
            return f"{label}: {what}"
        tag = info.label.split(": ", 1)[1]
        return f"{label} includes {tag}" if _flag(value) else f"{label} lacks {tag}"
    if info.kind == "categorical" and info.name.endswith("_band"):
        return f"{label}: {_category(value)}"
    if info.kind == "categorical":
        return f"{label}: {_category(value)}"
    number = float(value)  # type: ignore[arg-type]
    if kind == "timestamp":
        return f"{label}: {_days(number)}"
    if kind == "boolean":
        return f"{label}: {'unknown' if number != number else 'yes' if number else 'no'}"
    return f"{label}: {_number(number)}"


def _flag(value: object) -> bool:
    return isinstance(value, float | int) and value == value and value >= 1


def sentence(group: Group, info: FeatureInfo, value: object, row: dict, cfg: Config) -> str:
    if group.field in ("engagement", "hand_raise"):
        return _engagement_sentence(info, float(value))  # type: ignore[arg-type]
    if group.kind == "event":
        return _event_sentence(info, float(value), cfg)  # type: ignore[arg-type]
    return _field_sentence(group, info, value, row)


def pts(value: float) -> str:
    return f"{value:+.1f} pts"


def money(value: float) -> str:
    return f"{value:,.0f}"
