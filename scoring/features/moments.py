"""When a lead is scored for learning and for judging a model: at the funnel stage where the
history handed it to sales, else some days after creation; never at or after its close.
Training labels and monitoring share this moment, so a model is judged where it was fitted."""

from __future__ import annotations

import pandas as pd

from scoring.config import Config


def handoff_stage(cfg: Config) -> str | None:
    """The funnel stage at which the history handed a lead to sales: the scoring stage."""
    return cfg.training.score_at_stage or next(iter(cfg.leads.funnel), None)


def scoring_moments(cfg: Config, meta: pd.DataFrame) -> pd.Series:
    """When each lead would have been scored: the scoring stage, else creation + N days;
    always before its close. Leads with no date at all are scored at the latest known time."""
    stage = handoff_stage(cfg)
    fallback = meta["created_at"] + pd.Timedelta(days=cfg.training.score_after_days)
    moment = meta[f"{stage}_at"].fillna(fallback) if stage else fallback
    before_close = meta["closed_at"] - pd.Timedelta(seconds=1)
    moment = moment.where(~(moment >= before_close), before_close).fillna(before_close)
    latest = pd.concat([meta["created_at"], meta["closed_at"]]).max()
    return moment.fillna(latest if pd.notna(latest) else pd.Timestamp("2000-01-01"))
