"""Ground truth: what each lead would do if sales first contacted it at a given moment.

    P(won | first contact at t) = fit_probability * timing_multiplier(t)

`truth` is the frame World.truth (one row per lead). The response model reads its columns
fit_probability, in_market, window_start, ready_at, window_end and deal_size; history draws
outcomes from exactly these probabilities, so an oracle that evaluates a handoff policy with
`win_probability` scores it on the same process that produced the labels.
See docs/ground-truth.md for the formula, every default and where it comes from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.synthetic.clock import epoch_days

MINUTES_PER_DAY = 1_440.0

# Oldroyd & Elkington (2007): odds of qualifying fall 21x between a first call at 5 and at 30
# minutes. HBR (2011): within an hour is ~7x as good as an hour later and ~60x as good as after
# 24 hours. The studies do not link 30 minutes to 1 hour: continue the 5->30 minute power law.
_SLOPE = math.log(21.0) / math.log(30.0 / 5.0)
_AT_30_MIN = 1.0 / 21.0
_AT_1_HOUR = _AT_30_MIN * 2.0**-_SLOPE


@dataclass(frozen=True)
class ResponseModel:
    """Timing part of the ground truth; the fit part lives in the truth frame.

    early_multiplier: value of contact when the lead is not in market, or before its window
        opens: the lead is not ready and an early push sours it.
    pre_ready_multiplier: value of contact just before ready_at; it rises linearly from
        early_multiplier at window_start.
    speed_floor: share of the value at ready_at that does not depend on speed (the lead still
        wants to buy a day later); the rest follows the responsiveness curve r(delay).
    speed_anchor_minutes, speed_anchor_response: r(delay) at these delays after ready_at;
        r = 1 up to the first anchor, a power law (linear in log-log) between anchors, and the
        last value beyond the last anchor.
    after_window_half_life_days: after window_end the value halves this often (the buyer
        picked someone else or shelved the project).
    """

    early_multiplier: float = 0.15
    pre_ready_multiplier: float = 0.65
    speed_floor: float = 0.35
    speed_anchor_minutes: tuple[float, ...] = (5.0, 30.0, 60.0, 120.0, 1_440.0)
    speed_anchor_response: tuple[float, ...] = (
        1.0,
        _AT_30_MIN,
        _AT_1_HOUR,
        _AT_1_HOUR / 7.0,
        _AT_1_HOUR / 60.0,
    )
    after_window_half_life_days: float = 14.0

    def responsiveness(self, delay_minutes: np.ndarray) -> np.ndarray:
        """r(delay): 1 within the first anchor, falling through the speed-to-lead anchors."""
        x = np.log(np.maximum(np.asarray(delay_minutes, dtype=np.float64), 1e-9))
        log_anchor = np.log(np.asarray(self.speed_anchor_minutes))
        log_response = np.log(np.asarray(self.speed_anchor_response))
        return np.exp(np.interp(x, log_anchor, log_response))

    def timing_multiplier(self, truth: pd.DataFrame, contact_at: object) -> np.ndarray:
        """Multiplier in [0, 1] of fit_probability when first contact is at `contact_at`
        (a timestamp, or one per truth row); NaT means never contacted: 0."""
        t = _contact_days(truth, contact_at)
        start = epoch_days(truth["window_start"])
        ready = epoch_days(truth["ready_at"])
        end = epoch_days(truth["window_end"])
        in_market = truth["in_market"].to_numpy(dtype=bool)
        out = np.full(len(t), self.early_multiplier)
        with np.errstate(invalid="ignore", divide="ignore"):
            rising = in_market & (t >= start) & (t < ready)
            progress = (t - start) / (ready - start)
            gap = self.pre_ready_multiplier - self.early_multiplier
            out = np.where(rising, self.early_multiplier + gap * progress, out)
            after = in_market & (t >= ready)
            speed = self.speed_floor + (1.0 - self.speed_floor) * self.responsiveness(
                (t - ready) * MINUTES_PER_DAY
            )
            late = np.maximum(t - end, 0.0) / self.after_window_half_life_days
            out = np.where(after, speed * np.exp2(-late), out)
        return np.where(np.isnan(t), 0.0, out)

    def win_probability(self, truth: pd.DataFrame, contact_at: object) -> np.ndarray:
        """P(lead won | sales first contacts it at contact_at)."""
        return truth["fit_probability"].to_numpy(dtype=np.float64) * self.timing_multiplier(
            truth, contact_at
        )

    def expected_revenue(self, truth: pd.DataFrame, contact_at: object) -> np.ndarray:
        """win_probability * deal_size (USD)."""
        return self.win_probability(truth, contact_at) * truth["deal_size"].to_numpy(
            dtype=np.float64
        )


def _contact_days(truth: pd.DataFrame, contact_at: object) -> np.ndarray:
    days = epoch_days(contact_at)
    if days.shape[0] == 1 and len(truth) != 1:
        return np.full(len(truth), days[0])
    if days.shape[0] != len(truth):
        raise ValueError(f"contact_at has {days.shape[0]} values for {len(truth)} truth rows")
    return days


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
