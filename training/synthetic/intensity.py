"""The intent curve of a buying window and its integral, for sampling event times.

Intent is 0 before the window opens, ramps up linearly to 1 at ready_at, stays at 1 until the
window closes, then halves every `half_life` days. S(t) is its integral from the window start;
sampling S^-1(uniform) between S(lo) and S(hi) puts events where the intent is.
All arguments are float days, element-wise arrays.
"""

from __future__ import annotations

import numpy as np

LN2 = np.log(2.0)


def cumulative(
    t: np.ndarray, start: np.ndarray, ready: np.ndarray, end: np.ndarray, half_life: float
) -> np.ndarray:
    """S(t): integral of the intent curve from `start` to `t`."""
    ramp = ready - start
    plateau = end - ready
    tail = half_life / LN2
    in_ramp = np.clip(t - start, 0.0, ramp)
    s = np.divide(in_ramp**2, 2.0 * ramp, out=np.zeros_like(in_ramp), where=ramp > 0)
    s += np.clip(t - ready, 0.0, plateau)
    after = np.maximum(t - end, 0.0)
    return s + tail * (1.0 - np.exp2(-after / half_life))


def inverse(
    s: np.ndarray, start: np.ndarray, ready: np.ndarray, end: np.ndarray, half_life: float
) -> np.ndarray:
    """t such that S(t) = s, for 0 <= s < S(infinity)."""
    ramp = ready - start
    half_ramp = ramp / 2.0
    plateau = end - ready
    tail = half_life / LN2
    in_ramp = start + np.sqrt(2.0 * ramp * np.minimum(s, half_ramp))
    in_plateau = ready + (s - half_ramp)
    left = np.clip(1.0 - (s - half_ramp - plateau) / tail, 1e-12, 1.0)
    in_tail = end - half_life * np.log2(left)
    return np.where(
        s <= half_ramp, in_ramp, np.where(s <= half_ramp + plateau, in_plateau, in_tail)
    )
