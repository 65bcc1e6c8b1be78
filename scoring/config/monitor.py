"""What `leadscore monitor` calls a breach (`monitor:`): calibration, ranking, drift, load."""

from __future__ import annotations

from pydantic import Field

from scoring.config.base import Strict


class MonitorSpec(Strict):
    min_closed: int = Field(
        default=100,
        ge=10,
        description="leads closed since training below which calibration and ranking are not "
        "judged (too few to tell a bad model from bad luck)",
    )
    min_leads: int = Field(
        default=200, ge=10, description="new leads below which drift is not judged"
    )
    ece_limit: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="calibration breach: the expected calibration error of the win probability "
        "on the leads closed since training, when even the low end of its 90% interval is "
        "above this",
    )
    rate_ratio: float = Field(
        default=1.5,
        gt=1,
        description="base-rate breach: the leads closed since training won this many times "
        "more (or fewer) than the model predicted, at the near end of the 90% interval of "
        "observed / predicted",
    )
    auc_drop: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="ranking breach: ROC AUC on the leads closed since training below the test "
        "fold's by more than this, at the high end of its 90% interval",
    )
    score_psi_limit: float = Field(
        default=0.25, gt=0, description="drift breach: PSI of the win probability above this"
    )
    feature_psi_limit: float = Field(
        default=0.25, gt=0, description="drift breach: PSI of any one feature above this"
    )
    load_limit: float = Field(
        default=1.0,
        gt=0,
        description="load breach: the weekly MQLs or SQLs the cut-offs hand off, averaged over "
        "the last `load_weeks` weeks, above this share of costs.sdr_capacity_per_week or "
        "costs.ae_capacity_per_week",
    )
    load_weeks: int = Field(default=4, ge=1, description="recent weeks the load is averaged over")
    bootstrap: int = Field(default=200, ge=50, description="resamples for the intervals")
    seed: int = 7
