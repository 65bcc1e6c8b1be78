"""Functions of many values computed once per distinct value give what a loop over each gives."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.data.arrays import per_distinct


def _describe(value: object) -> tuple[type, str]:
    return type(value), str(value).strip()


def test_per_distinct_is_a_loop_over_every_value() -> None:
    rng = np.random.default_rng(5)
    ids = np.repeat([f" L{i}" for i in range(500)], rng.integers(1, 9, 500))  # in runs, like events
    kinds = ["email_open", "web_visit ", None, np.nan, pd.NA, float("nan")]  # any order, missing
    cases = [
        np.array(ids, dtype=object),
        np.array([kinds[i] for i in rng.integers(0, len(kinds), 5000)], dtype=object),
        # equal to a hash table and to ==, not to str(): 1, 1.0 and True, in any order and in runs
        np.array([[1, 1.0, True, "1", None][i] for i in rng.integers(0, 5, 5000)], dtype=object),
        np.repeat(np.array([1, 1.0, True, "1", None], dtype=object), 1000),
    ]
    for values in cases:
        assert per_distinct(values, _describe).tolist() == [_describe(v) for v in values]
