"""The outcome model the threshold replay values handoffs with: what handing off a lead in a
given state earned the team in the history.

It is the lead-scoring recipe (`fit_scorer`) fitted only on the closed leads the history handed
off, scored at the moment it did (the scoring stage). The lead-scoring model itself learns
P(won) over every lead, so a lead the history never called looks like a loser to it, whatever
it would have done if called; the outcome model learns from called leads only, so its expected
revenue is what a call earns. It never ships: serving and batch use the lead-scoring model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.config import Config
from scoring.features.moments import handoff_stage
from scoring.model.scorer import LeadScorer
from training.pipeline.boosters import DEV, blocks
from training.pipeline.dataset import TrainingSet
from training.pipeline.fit import fit_scorer


@dataclass(frozen=True)
class OutcomeModel:
    """The scorer fitted on handed-off leads, and the share of closed leads it learnt from that
    the history handed off."""

    scorer: LeadScorer
    handoff_rate: float

    def value(
        self, features: pd.DataFrame | Mapping[str, np.ndarray], expected_revenue: np.ndarray
    ) -> np.ndarray:
        """Expected revenue of handing these leads off now. Capped at the lead-scoring model's
        expected revenue (what leads in this state brought, called or not) over the history's
        handoff rate: where the history rarely called leads like these, the outcome model
        extrapolates, and no state is taken to be called less often than the average lead."""
        own = self.scorer.score_arrays(features)["expected_revenue"]
        return np.minimum(own, expected_revenue / self.handoff_rate)


MIN_WINS_PER_FOLD = 10  # fewer won handoffs in a block: fall back to the model itself
EARLIER = DEV  # the replay evaluates the test fold: never fit on it


def fit_outcome_model(cfg: Config, data: TrainingSet, meta: pd.DataFrame) -> OutcomeModel | None:
    """P(won | handed off in this state) x deal size, from the development leads the history
    handed off (the replay evaluates the test fold), with the default booster settings and
    calibrated by the stacker alone. None when the data records no handoffs or too few were won
    (the replay then values a handoff with the lead-scoring model's own expected revenue)."""
    stage = handoff_stage(cfg)
    if stage is None:
        return None
    handed = meta[f"{stage}_at"].reindex(data.label.index).notna().to_numpy()
    earlier = data.fold.isin(EARLIER).to_numpy()
    keep = handed & earlier
    sub = data.subset(keep)
    block = blocks(sub, cfg.training.cross_folds)
    wins = sub.label.groupby(block).sum()
    if len(wins) < cfg.training.cross_folds or wins.min() < MIN_WINS_PER_FOLD:
        return None
    scorer, _ = fit_scorer(cfg, sub, isotonic=False, search=False)
    return OutcomeModel(scorer, float(keep.sum() / earlier.sum()))
