"""The outcome model the threshold replay values handoffs with: what handing off a lead in a
given state earned the team in the history.

It is the lead-scoring recipe (`fit_scorer`) fitted only on the closed leads the history handed
off, scored at the moment it did (the scoring stage). The lead-scoring model itself learns
P(won) over every lead, so a lead the history never called looks like a loser to it, whatever
it would have done if called; the outcome model learns from called leads only, so its expected
revenue is what a call earns. It never ships: serving and batch use the lead-scoring model.
"""

from __future__ import annotations

import pandas as pd

from scoring.config import Config
from scoring.model import LeadScorer
from training.dataset import TrainingSet
from training.train import fit_scorer

MIN_WINS_PER_FOLD = 10  # fewer won handoffs than this in a fold: fall back to the model itself
FOLDS_USED = ("train", "calibration", "validation")


def handoff_stage(cfg: Config) -> str | None:
    """The funnel stage at which the history handed a lead to sales (the scoring stage)."""
    return cfg.training.score_at_stage or next(iter(cfg.leads.funnel), None)


def fit_outcome_model(cfg: Config, data: TrainingSet, meta: pd.DataFrame) -> LeadScorer | None:
    """P(won | handed off in this state) x deal size, from the leads the history handed off;
    None when the data records no handoffs or too few were won (the replay then values a
    handoff with the lead-scoring model's own expected revenue)."""
    stage = handoff_stage(cfg)
    if stage is None:
        return None
    handed = meta[f"{stage}_at"].reindex(data.label.index).notna().to_numpy()
    sub = TrainingSet(
        data.features[handed],
        data.label[handed],
        data.amount[handed],
        data.fold[handed],
        data.as_of[handed],
    )
    wins = sub.label.groupby(sub.fold).sum()
    if any(wins.get(fold, 0) < MIN_WINS_PER_FOLD for fold in FOLDS_USED):
        return None
    scorer, _ = fit_scorer(cfg, sub)
    return scorer
