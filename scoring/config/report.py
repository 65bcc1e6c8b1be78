"""How the shared funnel report groups and prices leads (`report:`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from scoring.config.base import Strict


class SpendEntry(Strict):
    """Marketing spend on one source in one month, or every month (a monthly budget)."""

    source: str
    month: str | None = Field(
        default=None,
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="YYYY-MM; default: every month (a monthly budget)",
    )
    amount: float = Field(ge=0)


class ReportSpec(Strict):
    source: str | None = Field(
        default=None,
        description="lead column (of the leads table or a join) naming where a lead came from; "
        "the report's `--by source`",
    )
    sales_sources: list[str] = Field(
        default_factory=list,
        description="sources sales generates itself (e.g. outbound_list): every other source's "
        "won revenue is marketing-sourced",
    )
    score_bands: list[float] = Field(
        default_factory=lambda: [0.05, 0.1, 0.2, 0.4],
        description="win-probability band edges of the report's `--by score_band`",
    )
    spend: list[SpendEntry] = Field(default_factory=list, description="marketing spend entries")
    spend_file: Path | None = Field(
        default=None,
        description="CSV of marketing spend with columns source, month (YYYY-MM), amount (relative "
        "to the config file); added to `spend`",
    )

    @field_validator("score_bands")
    @classmethod
    def _bands(cls, value: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in value) or sorted(set(value)) != value:
            raise ValueError("score_bands must be increasing probabilities between 0 and 1")
        return value
