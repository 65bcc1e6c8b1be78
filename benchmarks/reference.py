"""Fixed workloads timed in the same run as a benchmark: the machine is shared and noisy, so
figures are reported as multiples of them as well as in seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

import lightgbm as lgb
import numpy as np

from scoring.model.scorer import cores

REFERENCE_SIZE = 20_000_000
BOOSTER_ROWS = 100_000


def best_seconds(repeats: int, work: Callable[[], object]) -> float:
    """The fastest of `repeats` runs of `work`, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best


def reference_seconds(repeats: int = 3) -> float:
    """Best of `repeats` sorts of 20M random float64."""
    data = np.random.default_rng(0).random(REFERENCE_SIZE)
    return best_seconds(repeats, lambda: np.sort(data))


def booster_seconds(repeats: int = 3) -> float:
    """Best of `repeats` LightGBM fits (binary, 100k rows of 20 features, 200 rounds, the
    training's threads): work like training's, which a sort does not track from one CPU to
    another (2026-12-07: after a machine reset the sort took 0.32 s instead of 1.40 s while a
    100k-lead training took 290 s instead of 170 s)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BOOSTER_ROWS, 20))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=BOOSTER_ROWS) > 0).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_threads": cores(), "seed": 0}
    return best_seconds(repeats, lambda: lgb.train(params, lgb.Dataset(x, y), num_boost_round=200))
