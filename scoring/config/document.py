"""One data source's whole config: source, leads, events, features, training, costs, and the
loop back from sales: feedback, SLAs, the funnel report."""

from __future__ import annotations

from pydantic import Field, model_validator

from scoring.config.base import Strict
from scoring.config.costs import CostModel
from scoring.config.feedback import FeedbackSpec
from scoring.config.fields import FeatureGroups
from scoring.config.monitor import MonitorSpec
from scoring.config.recipe import TrainingSpec
from scoring.config.report import ReportSpec
from scoring.config.sla import SlaSpec
from scoring.config.source import EventsSpec, LeadsSpec, SourceSpec


class Config(Strict):
    name: str
    description: str = ""
    source: SourceSpec = Field(default_factory=SourceSpec)
    leads: LeadsSpec
    events: EventsSpec | None = None
    features: FeatureGroups
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    costs: CostModel = Field(default_factory=CostModel)
    feedback: FeedbackSpec = Field(default_factory=FeedbackSpec)
    sla: SlaSpec = Field(default_factory=SlaSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    leaks: dict[str, str] = Field(
        default_factory=dict,
        description="columns known to be filled after the outcome (e.g. a call's duration, a "
        "status sales sets), with why: never features, reported by the data check",
    )

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
        leaking = (self.label_columns | set(self.leaks)) & {
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
        cols = {leads.id, leads.revenue, leads.opportunity_amount, leads.close_date, leads.order_by}
        cols |= set(leads.funnel.values())
        if leads.outcome:
            cols.add(leads.outcome.column)
        return {c for c in cols if c}

    def with_database(self, url: str | None) -> Config:
        """This config on the lead database at `url` (`--db`), else on its own; a stored config's
        database is a hint (`SourceSpec.on_database`)."""
        source = self.source.on_database(url)
        return self if source is self.source else self.model_copy(update={"source": source})

    def stored(self) -> dict:
        """This config as a run, a model or an export keeps it (JSON): no credential, nothing
        the environment gave the source section (`SourceSpec.stored`)."""
        return self.model_dump(mode="json") | {"source": self.source.stored()}
