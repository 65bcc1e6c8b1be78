"""Data-source configuration: one YAML file per CRM export, loaded into strict pydantic models.

A new CRM export is a new YAML file, not new code. Everything downstream (data access,
validation, features) reads column names and meanings from here.
"""

from __future__ import annotations

import os
import re
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_DATABASE = "sqlite:///data/leads.db"
_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(ValueError):
    """A configuration file is invalid or does not match the data; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JoinSpec(_Strict):
    """Another table left-joined onto the leads table (e.g. accounts, products)."""

    table: str
    keys: dict[str, str] = Field(min_length=1, description="lead-side column -> column of `table`")
    columns: list[str] | None = Field(
        default=None, description="columns to bring in; default: all but the join keys"
    )
    prefix: str = Field(default="", description="prepended to brought-in columns to avoid clashes")


class OutcomeSpec(_Strict):
    """How to read won/lost from a column. Values are compared case-insensitively."""

    column: str
    won: list[str] = Field(min_length=1)
    lost: list[str] = Field(min_length=1)
    open: list[str] | None = Field(
        default=None,
        description="values of leads still in progress; when given, any other value is an error",
    )

    @model_validator(mode="after")
    def _disjoint(self) -> OutcomeSpec:
        groups = {"won": self.won, "lost": self.lost, "open": self.open or []}
        seen: dict[str, str] = {}
        for group, values in groups.items():
            for value in values:
                key = value.strip().lower()
                if key in seen:
                    raise ValueError(f"value {value!r} is listed in both {seen[key]} and {group}")
                seen[key] = group
        return self


class LeadsSpec(_Strict):
    """The leads table: one row per lead (or per opportunity, for opportunity exports)."""

    table: str
    id: str
    created_at: str | None = None
    outcome: OutcomeSpec | None = None
    revenue: str | None = Field(default=None, description="deal amount of won leads")
    opportunity_amount: str | None = Field(
        default=None, description="amount of the opportunity, known for lost deals too"
    )
    close_date: str | None = None
    funnel: dict[str, str] = Field(
        default_factory=dict,
        description="stage name -> timestamp column set when the lead reached it, in order",
    )
    joins: list[JoinSpec] = Field(default_factory=list)


class _Field(_Strict):
    """A configured input column and how it becomes features."""

    column: str
    name: str | None = Field(default=None, description="feature base name; default: the column")
    label: str | None = Field(default=None, description="business name shown in reasons")

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
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


FieldSpec = Annotated[
    CategoricalField | NumericField | BooleanField | JobTitleField | TagsField | TimestampField,
    Field(discriminator="kind"),
]


class FeatureGroups(_Strict):
    fit: list[FieldSpec] = Field(default_factory=list, description="who the lead is")
    intent: list[FieldSpec] = Field(default_factory=list, description="what the lead does")


class EventsSpec(_Strict):
    """Activity table of an event-log CRM: one row per event."""

    table: str
    lead_id: str
    type: str
    timestamp: str
    types: dict[str, list[str]] = Field(
        min_length=1,
        description="event type name -> raw values in the type column (a list means identity)",
    )
    hand_raise: list[str] = Field(default_factory=list, description="types that signal intent")
    ready: list[str] | None = Field(
        default=None,
        description="types by which a lead asks to talk to sales now (a demo request, not a "
        "pricing-page visit): when it became ready, for the threshold replay (default: hand_raise)",
    )
    windows_days: list[int] = Field(default_factory=lambda: [1, 7, 30, 90], min_length=1)
    half_life_days: float = Field(default=14.0, gt=0, description="decay of engagement")
    weights: dict[str, float] = Field(
        default_factory=dict, description="engagement weight per type (default 1)"
    )

    @field_validator("types", mode="before")
    @classmethod
    def _list_means_identity(cls, value: object) -> object:
        if isinstance(value, list):
            return {name: [name] for name in value}
        return (
            {k: (v if v is not None else [k]) for k, v in value.items()}
            if isinstance(value, dict)
            else value
        )

    @field_validator("types")
    @classmethod
    def _type_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        raw_seen: dict[str, str] = {}
        for name, raws in value.items():
            if not _NAME.match(name):
                raise ValueError(f"event type name {name!r} must be snake_case")
            for raw in raws:
                if raw in raw_seen:
                    raise ValueError(f"raw value {raw!r} maps to both {raw_seen[raw]} and {name}")
                raw_seen[raw] = name
        return value

    @field_validator("windows_days")
    @classmethod
    def _positive_windows(cls, value: list[int]) -> list[int]:
        if any(w <= 0 for w in value) or len(set(value)) != len(value):
            raise ValueError("windows must be distinct positive numbers of days")
        return sorted(value)

    @model_validator(mode="after")
    def _known_types(self) -> EventsSpec:
        named = {"hand_raise": self.hand_raise, "ready": self.ready or [], "weights": self.weights}
        for key, names in named.items():
            unknown = sorted(set(names) - set(self.types))
            if unknown:
                raise ValueError(
                    f"{key} names unknown event types {unknown}; known: {list(self.types)}"
                )
        return self


class TrainingSpec(_Strict):
    """Training knobs; every default is what `leadscore train` uses when the key is absent."""

    score_at_stage: str | None = Field(
        default=None,
        description="funnel stage whose timestamp is the moment a lead was scored "
        "(default: the first funnel stage)",
    )
    score_after_days: float = Field(
        default=30.0,
        ge=0,
        description="leads that never reach that stage are scored this many days after creation",
    )
    split: tuple[float, float, float, float] = Field(
        default=(0.6, 0.1, 0.1, 0.2),
        description="train / calibration / validation / test shares, in time order when dated",
    )
    weighting: Literal["revenue", "none"] = Field(
        default="revenue", description="revenue: weight each lead by its deal value; none: 1"
    )
    weight_power: float = Field(
        default=0.5, gt=0, le=1, description="weight = (value / mean value) ** power; 1 = dollars"
    )
    weight_clip: tuple[float, float] = Field(
        default=(0.2, 5.0), description="bounds of the mean-normalised weights"
    )
    seed: int = 7
    gate_margin: float = Field(
        default=0.01,
        ge=0,
        description="ROC AUC the model may trail the better baseline by, at the low end of the "
        "95% interval of the paired difference, and still be registered",
    )
    bootstrap: int = Field(default=300, ge=50, description="resamples for confidence intervals")
    lightgbm: dict[str, float | int | str | bool] = Field(
        default_factory=dict, description="LightGBM parameters overriding the defaults"
    )

    @field_validator("split")
    @classmethod
    def _shares(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(v <= 0 for v in value) or abs(sum(value) - 1) > 1e-6:
            raise ValueError("split shares must be positive and sum to 1")
        return value

    @field_validator("weight_clip")
    @classmethod
    def _clip(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] < 1 < value[1]:
            raise ValueError("weight_clip must be (low < 1 < high) with low > 0")
        return value


class CostModel(_Strict):
    """What handing a lead off costs and what waiting loses, in the team's own numbers.
    Money is in the currency of the revenue column."""

    sdr_cost_per_mql: float = Field(
        default=40.0, ge=0, description="SDR time to review and call one MQL (loaded cost)"
    )
    ae_cost_per_sql: float = Field(
        default=400.0, ge=0, description="AE time to work one SQL: discovery, demo, proposal"
    )
    ready_half_life_hours: float = Field(
        default=24.0, gt=0, description="a ready lead left waiting loses half its value this often"
    )
    premature_penalty: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="share of a lead's value lost when contacted before it is ready",
    )
    sdr_reject_rate: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="chance an SDR rejects a not-ready MQL back to nurture (no AE cost then)",
    )
    sdr_response_hours: float = Field(default=4.0, ge=0, description="MQL to first SDR call")
    ae_response_hours: float = Field(default=1.0, ge=0, description="SQL to first AE call")
    sdr_capacity_per_week: float = Field(default=250.0, gt=0, description="MQL reviews a week")
    ae_capacity_per_week: float = Field(default=60.0, gt=0, description="SQLs worked a week")
    capacity_headroom: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="share of each team's capacity the tuned cut-offs leave free: the replayed "
        "load is an estimate and weeks vary",
    )
    nurture_value_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="share of a ready lead's value still won when it is never handed off",
    )
    history_contact_stage: str | None = Field(
        default=None,
        description="funnel stage whose time marks the team's first contact in the history "
        "(default: the second funnel stage, e.g. sal: the SDR accepted after calling)",
    )
    max_timing_credit: float = Field(
        default=20.0,
        ge=1,
        description="the largest factor by which the threshold replay scales a handoff's value "
        "up for being called sooner than the history called such leads",
    )

    def capacity_excess(self, sdr_per_week: float, ae_per_week: float) -> tuple[float, float]:
        """How far a weekly load goes over each team's capacity, headroom kept free (<= 0:
        it fits): the study's constraints."""
        planned = 1.0 - self.capacity_headroom
        return (
            sdr_per_week - self.sdr_capacity_per_week * planned,
            ae_per_week - self.ae_capacity_per_week * planned,
        )

    def within_capacity(self, sdr_per_week: float, ae_per_week: float) -> bool:
        """Whether a weekly load fits both teams, headroom kept free."""
        return max(self.capacity_excess(sdr_per_week, ae_per_week)) <= 0

    def contact_stage(self, funnel: dict[str, str]) -> str | None:
        """The funnel stage used as the history's first contact (None: no funnel dates)."""
        if self.history_contact_stage is not None:
            return self.history_contact_stage
        stages = list(funnel)
        return stages[1] if len(stages) > 1 else (stages[0] if stages else None)


class SourceSpec(_Strict):
    database: str = Field(
        default=DEFAULT_DATABASE, description="SQLAlchemy URL of the lead database"
    )
    files: dict[str, Path] = Field(
        default_factory=dict,
        description="table name -> CSV/Parquet export imported by `leadscore data import`",
    )


class Config(_Strict):
    name: str
    description: str = ""
    source: SourceSpec = Field(default_factory=SourceSpec)
    leads: LeadsSpec
    events: EventsSpec | None = None
    features: FeatureGroups
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    costs: CostModel = Field(default_factory=CostModel)

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        stage = self.training.score_at_stage
        if stage is not None and stage not in self.leads.funnel:
            raise ValueError(
                f"training.score_at_stage: {stage!r} is not one of {list(self.leads.funnel)}"
            )
        contact = self.costs.history_contact_stage
        if contact is not None and contact not in self.leads.funnel:
            raise ValueError(
                f"costs.history_contact_stage: {contact!r} is not one of {list(self.leads.funnel)}"
            )
        if not (self.features.fit or self.features.intent or self.events):
            raise ValueError("features: configure at least one fit or intent column, or events")
        names = [f.base_name for f in (*self.features.fit, *self.features.intent)]
        clashes = sorted({n for n in names if names.count(n) > 1})
        if clashes:
            raise ValueError(f"features: names {clashes} are used twice; set `name:` to tell apart")
        leaking = self.label_columns & {
            f.column for f in (*self.features.fit, *self.features.intent)
        }
        if leaking:
            raise ValueError(
                f"features: {sorted(leaking)} describe the outcome or the funnel history and would "
                "leak the label into the model; remove them from features"
            )
        return self

    @property
    def label_columns(self) -> set[str]:
        """Columns that describe what happened to the lead: never features."""
        leads = self.leads
        cols = {leads.id, leads.revenue, leads.opportunity_amount, leads.close_date}
        cols |= set(leads.funnel.values())
        if leads.outcome:
            cols.add(leads.outcome.column)
        return {c for c in cols if c}

    def with_database(self, url: str | None) -> Config:
        if not url:
            return self
        return self.model_copy(update={"source": self.source.model_copy(update={"database": url})})


def slug(text: str) -> str:
    """A snake_case name for a column header: "Time on Site (min)" -> time_on_site_min."""
    out = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return out if out and out[0].isalpha() else f"f_{out}"


def _interpolate_env(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        value = os.environ.get(match["name"])
        if value is None and match["default"] is None:
            raise ConfigError(f"environment variable {match['name']} is not set and has no default")
        return value if value is not None else match["default"]

    return _ENV_REF.sub(replace, text)


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"] if not str(p).endswith("Field")) or "(top)"
        if err["type"] == "extra_forbidden":
            lines.append(f"{path}: {where}: unknown key")
        else:
            lines.append(f"{path}: {where}: {err['msg']}")
    return "invalid config\n  " + "\n  ".join(lines)


def _resolve_files(raw: dict, base: Path) -> None:
    files = raw.get("source", {}).get("files") if isinstance(raw.get("source"), dict) else None
    if isinstance(files, dict):
        for table, file in files.items():
            if isinstance(file, str) and not Path(file).is_absolute():
                files[table] = str((base / file).resolve())


def load_config(path: str | Path) -> Config:
    """Load and validate a config file; relative file paths are relative to the file itself."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(_interpolate_env(text))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    _resolve_files(raw, path.parent)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
