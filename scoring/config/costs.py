"""The cost model of handing a lead off too early or too late (`costs:`), and capacity."""

from __future__ import annotations

from pydantic import Field

from scoring.config.base import Strict


class CostModel(Strict):
    """What handing a lead off costs and what waiting loses, in the team's own numbers.

    Money is in the unit of expected revenue: the currency of the revenue column (or of
    `leads.deal_value` when the source has no amounts); a source with neither counts expected
    revenue in won deals, so its costs are shares of a won deal (the defaults, 40 and 400, are
    dollars: the threshold study refuses them there)."""

    sdr_cost_per_mql: float = Field(
        default=40.0,
        ge=0,
        description="SDR time to review and call one MQL (loaded cost), in the unit of expected "
        "revenue; without amounts or leads.deal_value a share of a won deal (e.g. 0.005)",
    )
    ae_cost_per_sql: float = Field(
        default=400.0,
        ge=0,
        description="AE time to work one SQL: discovery, demo, proposal, in the unit of expected "
        "revenue; without amounts or leads.deal_value a share of a won deal (e.g. 0.05)",
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
    leads_per_week: float | None = Field(
        default=None,
        gt=0,
        description="new leads a week, to turn the replayed handoffs into a weekly load: needed "
        "for the capacity limits when the source has no creation dates (leads.created_at); when "
        "set it replaces the flow measured from those dates (e.g. to plan for growth)",
    )
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
