"""A fixed workload timed in the same run as a benchmark: the machine is shared and noisy, so
figures are reported as multiples of it as well as in seconds."""

from __future__ import annotations

import time

import numpy as np

REFERENCE_SIZE = 20_000_000


def reference_seconds(repeats: int = 3) -> float:
    """Best of `repeats` sorts of 20M random float64."""
    data = np.random.default_rng(0).random(REFERENCE_SIZE)
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        np.sort(data)
        best = min(best, time.perf_counter() - began)
    return best
