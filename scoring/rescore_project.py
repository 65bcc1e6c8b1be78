"""When to look at a lead again if nothing new happens: its stage projected forward in time.

Time alone moves intent features (events leave the 1/7/30/90-day windows, engagement decays,
days-since grow), so a lead can drop from MQL to nurture, or cross up, without any new input.
Rescoring projects today's inputs (events known at `as_of` only) to later points in time with
the same feature and scoring code, and stores the first time the stage differs as the lead's
`next_check_at`; incremental runs re-evaluate leads whose check time has passed.

Projections reuse the predictions of boosters whose inputs did not move (fit and deal size,
unless a fit field is a date): `memoised` wraps each booster so a row whose encoded features
equal those of the last full call is not predicted again. The numbers are exactly the same.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from scoring.features import build_features
from scoring.model import LeadScorer

HORIZONS_DAYS = (1, 2, 4, 7, 14, 21)
MAX_RECHECK = timedelta(days=30)


class MemoBooster:
    """A LightGBM booster that remembers its last prediction and recomputes changed rows only."""

    def __init__(self, booster) -> None:
        self.booster = booster
        self.memo: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def predict(self, data: np.ndarray, **kwargs) -> np.ndarray:
        key = tuple(sorted(kwargs.items()))
        seen = self.memo.get(key)
        if seen is None or seen[0].shape != data.shape:
            out = self.booster.predict(data, **kwargs)
            self.memo[key] = (data, out)
            return out
        old_x, old_y = seen
        moved = ~((old_x == data) | (np.isnan(old_x) & np.isnan(data))).all(axis=1)
        out = old_y.copy()
        if moved.any():
            out[moved] = self.booster.predict(data[moved], **kwargs)
        return out

    def __getattr__(self, name: str):
        return getattr(self.booster, name)


def memoised(scorer: LeadScorer) -> LeadScorer:
    """The same scorer with memoising boosters (one memo per chunk: call this per chunk)."""
    try:
        parts = {
            name: dataclasses.replace(part, booster=MemoBooster(part.booster))
            for name, part in scorer.parts.items()
        }
        deal = scorer.deal_size
        if deal.part is not None:
            deal = dataclasses.replace(
                deal, part=dataclasses.replace(deal.part, booster=MemoBooster(deal.part.booster))
            )
        return dataclasses.replace(scorer, parts=parts, deal_size=deal)
    except (AttributeError, TypeError):  # a scorer of another shape: no memo, same numbers
        return scorer


def _stage(
    scorer: LeadScorer, inputs: pd.DataFrame, events: pd.DataFrame | None, at: pd.Timestamp
) -> np.ndarray:
    features = build_features(scorer.config, inputs, events, at)
    return scorer.score(features)["stage"].to_numpy(dtype=object)


def known_at(
    inputs: pd.DataFrame, events: pd.DataFrame | None, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """What is known at `as_of`: events up to it, dates up to it (later ones unknown)."""
    if events is not None and len(events):
        events = events[events["occurred_at"] <= as_of]
    known = inputs.copy()
    for column in known.columns:
        if pd.api.types.is_datetime64_any_dtype(known[column]):
            known[column] = known[column].where(known[column] <= as_of)
    return known, events


def next_checks(
    scorer: LeadScorer,
    inputs: pd.DataFrame,
    events: pd.DataFrame | None,
    as_of: datetime,
    stage: np.ndarray,
) -> list[datetime]:
    """Per lead, when to re-evaluate it. Its stage is projected MAX_RECHECK ahead; the leads
    whose stage differs there are projected at HORIZONS_DAYS and are due at the first horizon
    where it moved; the others are due MAX_RECHECK ahead (a floor on how stale a score gets,
    and the safety net for a stage that moves and moves back between two projections)."""
    now = pd.Timestamp(as_of)
    known, events = known_at(inputs, events, now)
    result = np.full(len(inputs), np.datetime64(now + MAX_RECHECK, "us"))
    movers = np.flatnonzero(_stage(scorer, known, events, now + MAX_RECHECK) != stage)
    if len(movers):
        ids = known.index[movers]
        sub_events = events[events["lead_id"].isin(ids)] if events is not None else None
        pending = np.ones(len(movers), dtype=bool)
        for days in HORIZONS_DAYS:
            at = now + timedelta(days=days)
            if at >= now + MAX_RECHECK or not pending.any():
                break
            moved = pending & (_stage(scorer, known.loc[ids], sub_events, at) != stage[movers])
            result[movers[moved]] = np.datetime64(at, "us")
            pending &= ~moved
    return result.astype("datetime64[us]").tolist()
