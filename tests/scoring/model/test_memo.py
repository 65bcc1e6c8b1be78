"""Boosters that reuse predictions: the same numbers as predicting every row, fewer rows
predicted."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from scoring.model.memo import LastCallMemo, RunMemo


class Counting:
    """A real booster that counts the rows it is asked to predict."""

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster, self.rows = booster, 0

    def predict(self, data: np.ndarray, **kwargs) -> np.ndarray:
        self.rows += len(data)
        return self.booster.predict(data, **kwargs)

    def num_trees(self) -> int:
        return self.booster.num_trees()


def _booster() -> lgb.Booster:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    x[rng.random(400) < 0.2, 1] = np.nan
    y = (x[:, 0] + np.nan_to_num(x[:, 1]) > 0).astype(float)
    params = {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=20)


def test_runs_of_equal_rows_are_predicted_once() -> None:
    booster = _booster()
    lead = np.array([[0.3, np.nan, 1.0], [-1.0, 2.0, 0.0], [0.3, 0.5, 1.0]])
    # three leads at 4, 1 and 3 moments: NaN equals NaN; a lead equal to a lead two rows back
    # is predicted again (only the row before counts)
    x = lead[[0, 0, 0, 0, 1, 2, 2, 2]]
    counted = Counting(booster)
    memo = RunMemo(counted)
    out = memo.predict(x, raw_score=True)
    assert np.array_equal(out, booster.predict(x, raw_score=True))
    assert counted.rows == 3
    assert memo.num_trees() == booster.num_trees()  # everything else is the booster's
    assert np.array_equal(RunMemo(booster).predict(x[:1]), booster.predict(x[:1]))
    assert RunMemo(booster).predict(x[:0]).shape == (0,)


def test_the_last_call_is_reused_for_rows_that_did_not_move() -> None:
    booster = _booster()
    x = np.array([[0.3, np.nan, 1.0], [-1.0, 2.0, 0.0], [0.3, 0.5, 1.0]])
    later = x.copy()
    later[1, 2] = 5.0
    counted = Counting(booster)
    memo = LastCallMemo(counted)
    memo.predict(x, raw_score=True)
    out = memo.predict(later, raw_score=True)
    assert np.array_equal(out, booster.predict(later, raw_score=True))
    assert counted.rows == 3 + 1
    memo.predict(later)  # other arguments: another memo
    assert counted.rows == 3 + 1 + 3
