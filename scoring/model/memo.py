"""Boosters that do not predict a row again: the same numbers, fewer trees walked.

Two callers score the same leads again with inputs that mostly did not move, so the boosters
whose inputs are fixed (fit and deal size, unless a fit field is a date) would repeat every
prediction:
- batch rescoring projects today's leads forward in time (`scoring.batch.project`): a row equal
  to the same row of the last full call is taken from it (`LastCallMemo`);
- the threshold replay scores each lead at every moment of its history, a lead's moments one
  after the other (`training.thresholds.timeline`): a row equal to the row before it is taken
  from that one (`RunMemo`).
A booster's prediction for a row depends on that row alone, so reuse changes no bit.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scoring.model.scorer import LeadScorer


def same_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, whether `a` and `b` hold the same values (NaN equal to NaN)."""
    return ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1)


class LastCallMemo:
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
        moved = ~same_rows(old_x, data)
        out = old_y.copy()
        if moved.any():
            out[moved] = self.booster.predict(data[moved], **kwargs)
        return out

    def __getattr__(self, name: str):
        return getattr(self.booster, name)


class RunMemo:
    """A LightGBM booster that predicts each run of equal consecutive rows once."""

    def __init__(self, booster) -> None:
        self.booster = booster

    def predict(self, data: np.ndarray, **kwargs) -> np.ndarray:
        new = np.ones(len(data), dtype=bool)
        new[1:] = ~same_rows(data[1:], data[:-1])
        if new.all():
            return self.booster.predict(data, **kwargs)
        return self.booster.predict(data[new], **kwargs)[np.cumsum(new) - 1]

    def __getattr__(self, name: str):
        return getattr(self.booster, name)


def memoised(scorer: LeadScorer, memo: type = LastCallMemo) -> LeadScorer:
    """The same scorer with each booster wrapped in `memo` (a `LastCallMemo` remembers one call:
    make one per chunk)."""
    try:
        parts = {
            name: dataclasses.replace(part, booster=memo(part.booster))
            for name, part in scorer.parts.items()
        }
        deal = scorer.deal_size
        if deal.part is not None:
            deal = dataclasses.replace(
                deal, part=dataclasses.replace(deal.part, booster=memo(deal.part.booster))
            )
        return dataclasses.replace(scorer, parts=parts, deal_size=deal)
    except (AttributeError, TypeError):  # a scorer of another shape: no memo, same numbers
        return scorer
