"""Metrics and the quality gate on known inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from training.pipeline.evaluate import (
    bootstrap_mean_interval,
    expected_calibration_error,
    metrics,
    quality_gate,
    rank_auc,
    top_share,
    weighted_auc,
)


def _samples(centre: float, spread: float = 0.01, n: int = 400, seed: int = 0) -> np.ndarray:
    return centre + np.random.default_rng(seed).normal(0, spread, n)


def test_gate_passes_a_model_clearly_better_than_the_baselines() -> None:
    noise = _samples(0.0, 0.005, seed=1)
    gate = quality_gate(
        {"combined": 0.85 + noise, "lr": 0.80 + noise, "nb": 0.78 + noise},
        "combined",
        ["lr", "nb"],
        0.02,
    )
    assert gate.passed and gate.best_baseline == "lr"
    assert gate.message.startswith("Registered: ROC AUC +0.050 over the better baseline (lr")


def test_gate_refuses_a_model_no_better_than_chance() -> None:
    gate = quality_gate(
        {"combined": _samples(0.51, 0.02), "lr": _samples(0.49, 0.02)}, "combined", ["lr"], 0.02
    )
    assert not gate.passed
    assert "NOT registered: its ROC AUC is not above chance" in gate.message
    assert "too little signal" in gate.message and "too few closed leads" not in gate.message


def test_gate_blames_a_test_fold_too_small_to_tell_not_the_data() -> None:
    # 300 leads, 9 wins in the test fold: the interval runs from below chance to a good ranking
    gate = quality_gate(
        {"combined": _samples(0.65, 0.10), "lr": _samples(0.58, 0.10)}, "combined", ["lr"], 0.02
    )
    assert not gate.passed
    assert "NOT registered: its ROC AUC is not above chance (95% interval 0.4" in gate.message
    assert "too few closed leads to tell a useful ranking (AUC 0.6) from chance" in gate.message
    assert "too little signal" not in gate.message


def test_gate_refuses_a_model_worse_than_a_baseline() -> None:
    noise = _samples(0.0, 0.005)
    gate = quality_gate({"combined": 0.80 + noise, "lr": 0.82 + noise}, "combined", ["lr"], 0.02)
    assert not gate.passed and "does not rank leads better than the lr baseline" in gate.message
    assert "too little signal" in gate.message


def test_gate_refuses_a_model_behind_a_baseline_in_a_fold_too_small_to_tell() -> None:
    # paired: the difference's interval reaches a gain of the margin and more
    noise = _samples(0.0, 0.02)
    diff = _samples(-0.005, 0.02, seed=3)
    gate = quality_gate(
        {"combined": 0.80 + noise + diff, "lr": 0.80 + noise}, "combined", ["lr"], 0.02
    )
    assert not gate.passed and "does not rank leads better than the lr baseline" in gate.message
    assert "too few closed leads to tell them apart" in gate.message
    assert "too little signal" not in gate.message


def test_gate_refuses_an_edge_within_noise() -> None:
    gate = quality_gate(
        {"combined": _samples(0.80, 0.03, seed=1), "lr": _samples(0.79, 0.03, seed=2)},
        "combined",
        ["lr"],
        0.02,
    )
    assert not gate.passed and "within noise" in gate.message
    assert "too few closed leads to tell them apart" in gate.message


def test_gate_blames_the_data_when_no_interval_reaches_a_useful_ranking() -> None:
    # above chance but weak (interval below 0.6), level with the baseline, behind it then ahead
    # of it within noise: no test fold would make it worth having
    for combined, lr, why in ((0.55, 0.552, "does not rank"), (0.555, 0.55, "within noise")):
        gate = quality_gate(
            {"combined": _samples(combined, 0.01, seed=1), "lr": _samples(lr, 0.01, seed=2)},
            "combined",
            ["lr"],
            0.005,
        )
        assert not gate.passed and why in gate.message, gate.message
        assert "too little signal" in gate.message and "too few" not in gate.message


def test_expected_calibration_error() -> None:
    p = np.repeat([0.1, 0.5], 100)
    y = np.concatenate([np.r_[np.ones(10), np.zeros(90)], np.r_[np.ones(50), np.zeros(50)]])
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.0)
    # equal predictions share a bin: one rate for every lead is judged against the overall rate
    # (0.3 here), not against the rates of the halves its rows happen to fall in (0.1 and 0.5)
    assert expected_calibration_error(y, np.full(200, 0.4), bins=2) == pytest.approx(0.1)
    halves = np.repeat([1.0, 0.0], 100)
    assert expected_calibration_error(halves, np.full(200, 0.5)) == pytest.approx(0.0)


def test_top_share_lift_and_revenue() -> None:
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    p = np.linspace(1, 0, 10)
    value = np.array([100.0, 0, 0, 0, 300.0, 0, 0, 0, 0, 0])
    lift, share = top_share(y, p, value, 0.2)
    assert lift == pytest.approx(0.5 / 0.2) and share == pytest.approx(0.25)


def test_rank_auc_is_sklearns_auc_ties_included() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        y = (rng.random(500) < 0.08).astype(int)
        score = np.round(rng.random(500), 1)  # ten distinct values: many ties
        assert rank_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_revenue_weighted_figures_without_amounts_never_crash() -> None:
    y = np.array([0, 1, 0, 1, 0, 0])
    p = np.array([0.1, 0.8, 0.3, 0.4, 0.5, 0.2])
    # every value zero or unknown: the weighted AUC has no meaning and is NaN, not an error
    assert np.isnan(weighted_auc(y, p, np.zeros(6)))
    assert np.isnan(weighted_auc(y, p, np.full(6, np.nan)))
    # one constant value per lead (a source without amounts): the unweighted figures
    report = metrics(y, p, np.full(6, 2500.0), np.array([0.7, 0.8]))
    assert report["revenue_weighted_auc"] == pytest.approx(report["roc_auc"])
    assert report["revenue_share_top20"] == pytest.approx(0.5)  # the top lead is 1 of the 2 wins


def test_bootstrap_mean_interval_covers_the_mean() -> None:
    values = np.random.default_rng(0).normal(0.3, 1.0, 4000)  # standard error about 0.016
    lo, hi = bootstrap_mean_interval(values, 300, 7)
    assert lo < values.mean() < hi
    assert 0.04 < hi - lo < 0.09  # about 4 standard errors wide
