"""The naive-Bayes baseline is a fair one: values it has not seen, or seen too rarely, are no
evidence, so a high-cardinality column cannot drag it towards chance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from training.pipeline.baselines import FrequencyNaiveBayes

PLAN_LIFT = {"a": -1.5, "b": -0.5, "c": 0.0, "d": 0.5, "e": 1.0, "f": 1.8}
CATEGORICAL = {"plan", "ref"}


def leads(n: int, seed: int, ref_values: int | None) -> tuple[pd.DataFrame, pd.Series]:
    """An informative `plan` and a signal-free `ref`: unique per lead when `ref_values` is None
    (an id), else drawn from that many values (an account or email domain: a few leads each).
    About 12% of leads win."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(list(PLAN_LIFT), n)
    z = -2.5 + np.vectorize(PLAN_LIFT.get)(plan)
    won = pd.Series((rng.random(n) < 1 / (1 + np.exp(-z))).astype(int))
    codes = np.arange(n) if ref_values is None else rng.integers(0, ref_values, n)
    return pd.DataFrame({"plan": plan, "ref": [f"R{c}" for c in codes]}), won


def baseline_auc(x: pd.DataFrame, y: pd.Series) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Test AUC of the baseline on every column and on `plan` alone (train 4,000, test 2,000),
    with both sets of predictions."""
    train, test = slice(0, 4000), slice(4000, None)
    full = FrequencyNaiveBayes().fit(x[train], y[train], CATEGORICAL).predict_proba(x[test])
    alone = (
        FrequencyNaiveBayes()
        .fit(x[train][["plan"]], y[train], CATEGORICAL)
        .predict_proba(x[test][["plan"]])
    )
    return roc_auc_score(y[test], full), roc_auc_score(y[test], alone), full, alone


def test_an_id_column_is_no_evidence() -> None:
    # given an id-like column (every value unique) beside one informative column
    x, y = leads(6000, seed=1, ref_values=None)
    auc, _, full, alone = baseline_auc(x, y)
    # then the ids change nothing: the same predictions as the informative column alone
    assert auc > 0.65
    np.testing.assert_allclose(full, alone, rtol=1e-12)


def test_rare_values_of_a_high_cardinality_column_are_no_evidence() -> None:
    # given a signal-free column whose values a few leads share (3,000 values for 6,000 leads):
    # most test values were seen once or twice in training, or never
    x, y = leads(6000, seed=1, ref_values=3000)
    auc, auc_alone, _, _ = baseline_auc(x, y)
    # then the baseline ranks as well as on the informative column alone
    assert auc > 0.65
    assert auc == pytest.approx(auc_alone, abs=0.005)


def test_evidence_is_shrunk_and_neutral_below_the_minimum_count() -> None:
    # given a column whose value "x" won 3 of 3 times, "y" 4 of 8, and "z" is at the base rate
    values = ["x"] * 3 + ["y"] * 8 + ["z"] * 89
    label = pd.Series([1] * 3 + [1] * 4 + [0] * 4 + [1] * 3 + [0] * 86)
    model = FrequencyNaiveBayes(min_count=5, shrink=10.0).fit(
        pd.DataFrame({"c": values}), label, {"c"}
    )
    base = label.mean()
    p = model.predict_proba(pd.DataFrame({"c": ["x", "y", "unseen", None]}))
    # then "x" (seen 3 times) and an unseen value or a missing one (never seen) say nothing
    assert p[[0, 2, 3]] == pytest.approx(np.full(3, base))
    # and "y" moves towards its own win rate, shrunk towards the base rate by 10 leads
    assert p[1] == pytest.approx((4 + 10 * base) / (8 + 10))
