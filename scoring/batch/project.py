"""When to look at a lead again if nothing new happens: its stage projected forward in time.

Time alone moves intent features (events leave the 1/7/30/90-day windows, engagement decays,
days-since grow), so a lead can drop from MQL to nurture, or cross up, without any new input.
Rescoring projects today's inputs (events known at `as_of` only) to later points in time with
the same feature and scoring code, and stores the first time the stage differs as the lead's
`next_check_at`; incremental runs re-evaluate leads whose check time has passed. The features
are projected from what `Features` computed once (fields, events resolved to leads and types):
only the time arithmetic is redone.

Projections reuse the predictions of boosters whose inputs did not move (fit and deal size,
unless a fit field is a date): `scoring.model.memo.memoised` wraps each booster so a row whose
encoded features equal those of the last full call is not predicted again. The numbers are
exactly the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from scoring.features import Features
from scoring.model.scorer import LeadScorer

HORIZONS_DAYS = (1, 2, 4, 7, 14, 21)
MAX_RECHECK = timedelta(days=30)


def _stage(scorer: LeadScorer, features: dict[str, np.ndarray]) -> np.ndarray:
    return scorer.score_arrays(features)["stage"]


def next_checks(
    scorer: LeadScorer, features: Features, as_of: datetime, stage: np.ndarray
) -> np.ndarray:
    """Per lead, when to re-evaluate it (datetime64[us]). Its stage is projected MAX_RECHECK
    ahead with what is known at `as_of`; the leads whose stage differs there are projected at
    HORIZONS_DAYS and are due at the first horizon where it moved; the others are due
    MAX_RECHECK ahead (a floor on how stale a score gets, and the safety net for a stage that
    moves and moves back between two projections)."""
    now = pd.Timestamp(as_of)
    result = np.full(len(stage), np.datetime64(now + MAX_RECHECK, "us"))
    later = features.at(now + MAX_RECHECK, known_until=now)
    pending = np.flatnonzero(_stage(scorer, later) != stage)
    for days in HORIZONS_DAYS:
        at = now + timedelta(days=days)
        if at >= now + MAX_RECHECK or not len(pending):
            break
        projected = features.subset(pending).at(at, known_until=now)
        moved = _stage(scorer, projected) != stage[pending]
        result[pending[moved]] = np.datetime64(at, "us")
        pending = pending[~moved]
    return result
