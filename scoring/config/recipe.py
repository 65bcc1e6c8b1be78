"""Training knobs (`training:`): scoring moment, folds, revenue weighting, gate, LightGBM."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from scoring.config.base import Strict
from scoring.config.lightgbm_settings import checked
from scoring.settings import settings


def default_tune_trials() -> int:
    """`training.tune_trials` when a config does not set it: `LEADSCORE_TUNE_TRIALS`, 12."""
    return settings().tune_trials


class TrainingSpec(Strict):
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
    leak_auc: float = Field(
        default=0.9,
        gt=0.5,
        le=1,
        description="a feature column that alone separates won from lost with at least this ROC "
        "AUC is a leak suspect: named by the data check and left out of training",
    )
    keep_suspects: list[str] = Field(
        default_factory=list,
        description="feature columns to train on although the data check suspects a leak",
    )
    lightgbm: dict[str, float | int | str | bool] = Field(
        default_factory=dict,
        description="LightGBM parameters overriding the defaults (and left out of the booster "
        "search); not objective or the rounds, which the recipe sets",
    )
    tune_trials: int = Field(
        default_factory=default_tune_trials,
        ge=0,
        le=500,
        description="Optuna trials searching each booster's settings (learning rate, leaves, "
        "minimum leaf size, L2, feature fraction) on the cross-fitting blocks; 0: the defaults",
    )
    tune_seconds: float = Field(
        default=90,
        gt=0,
        description="the most the booster search may take, all parts together",
    )
    until: datetime | None = Field(
        default=None,
        description="train as of this moment: only leads closed before it are labels (by "
        "leads.close_date, else creation date); the leads after it are what `leadscore "
        "monitor` judges the model on. Default: every closed lead",
    )
    refit_with_test: bool = Field(
        default=True,
        description="after the held-out evaluation, fit the registered model again on every "
        "labelled lead, test fold included, with the recipe and settings evaluated (its "
        "metrics are those of the held-out evaluation); false: register the evaluated model",
    )
    cross_folds: int = Field(
        default=5,
        ge=2,
        le=20,
        description="blocks of the development leads (all but the test fold), in fold order: "
        "each block's predictions come from boosters fitted on the others, and the stacker and "
        "calibration learn from those",
    )

    @field_validator("split")
    @classmethod
    def _shares(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(v <= 0 for v in value) or abs(sum(value) - 1) > 1e-6:
            raise ValueError("split shares must be positive and sum to 1")
        return value

    @field_validator("lightgbm")
    @classmethod
    def _lightgbm(cls, value: dict) -> dict:
        return checked(value)

    @field_validator("weight_clip")
    @classmethod
    def _clip(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] < 1 < value[1]:
            raise ValueError("weight_clip must be (low < 1 < high) with low > 0")
        return value
