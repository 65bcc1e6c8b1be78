"""Metrics and the quality gate on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from training.pipeline.evaluate import expected_calibration_error, quality_gate, top_share


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


def test_gate_refuses_a_model_worse_than_a_baseline() -> None:
    noise = _samples(0.0, 0.005)
    gate = quality_gate({"combined": 0.80 + noise, "lr": 0.82 + noise}, "combined", ["lr"], 0.02)
    assert not gate.passed and "does not rank leads better than the lr baseline" in gate.message


def test_gate_refuses_an_edge_within_noise() -> None:
    gate = quality_gate(
        {"combined": _samples(0.80, 0.03, seed=1), "lr": _samples(0.79, 0.03, seed=2)},
        "combined",
        ["lr"],
        0.02,
    )
    assert not gate.passed and "within noise" in gate.message


def test_expected_calibration_error() -> None:
    p = np.repeat([0.1, 0.5], 100)
    y = np.concatenate([np.r_[np.ones(10), np.zeros(90)], np.r_[np.ones(50), np.zeros(50)]])
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(200, 0.3), bins=2) == pytest.approx(0.2)


def test_top_share_lift_and_revenue() -> None:
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    p = np.linspace(1, 0, 10)
    value = np.array([100.0, 0, 0, 0, 300.0, 0, 0, 0, 0, 0])
    lift, share = top_share(y, p, value, 0.2)
    assert lift == pytest.approx(0.5 / 0.2) and share == pytest.approx(0.25)
