"""The saved scorer: format 3 keeps the probability bound and what a deal size is; format 2
scorers (saved before either existed) still load."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from scoring.model.scorer import Calibration, DealSize, LeadScorer
from tests.training.pipeline.bank_world import train_bank
from training.pipeline.run import TrainResult


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train_bank(tmp_path_factory.mktemp("bank"), deal_value=800)


def _scores(scorer: LeadScorer, bank: TrainResult) -> dict[str, np.ndarray]:
    return scorer.score_arrays(bank.data.part("test").features)


def test_a_saved_scorer_loads_with_its_bound_and_deal_basis(bank: TrainResult, tmp_path) -> None:
    bank.scorer.save(tmp_path)
    assert json.loads((tmp_path / "scorer.json").read_text())["format"] == 3
    loaded = LeadScorer.load(tmp_path)
    assert loaded.calibration == bank.scorer.calibration
    assert loaded.deal_size == DealSize(800.0, None, "deal_value")
    for name, values in _scores(bank.scorer, bank).items():
        np.testing.assert_array_equal(_scores(loaded, bank)[name], values)


def _as_format_2(folder: Path) -> None:
    """Rewrite a saved scorer the way format 2 wrote it: no bound, no deal basis."""
    doc = json.loads((folder / "scorer.json").read_text())
    doc["format"] = 2
    del doc["calibration"]["bound"], doc["deal_size"]["basis"]
    (folder / "scorer.json").write_text(json.dumps(doc))


def test_a_format_2_scorer_still_loads(bank: TrainResult, tmp_path) -> None:
    bank.scorer.save(tmp_path)
    _as_format_2(tmp_path)
    loaded = LeadScorer.load(tmp_path)
    # it knew amounts only, and its probabilities get the old fixed bound
    assert loaded.deal_size.basis == "amounts" and loaded.calibration.bound == 1e-4
    same = dataclasses.replace(bank.scorer.calibration, bound=1e-4)
    expected = dataclasses.replace(bank.scorer, calibration=same)
    np.testing.assert_array_equal(
        _scores(loaded, bank)["win_probability"], _scores(expected, bank)["win_probability"]
    )


def test_an_unknown_format_is_refused(bank: TrainResult, tmp_path) -> None:
    bank.scorer.save(tmp_path)
    doc = json.loads((tmp_path / "scorer.json").read_text())
    (tmp_path / "scorer.json").write_text(json.dumps(doc | {"format": 1}))
    with pytest.raises(ValueError, match=r"scorer format 1 is not one of \(2, 3\)"):
        LeadScorer.load(tmp_path)


def test_probabilities_stay_within_the_bound() -> None:
    # an isotonic map whose steps reach exactly 0 and 1
    calibration = Calibration((0.0, 1.0), "isotonic", (0.1, 0.5, 0.9), (0.0, 0.5, 1.0), 0.01)
    p = calibration.probability(np.array([[-20.0], [0.0], [20.0]]))
    np.testing.assert_allclose(p, [0.01, 0.5, 0.99])


def test_a_deal_size_says_what_it_is() -> None:
    with pytest.raises(ValueError, match="deal size basis 'dollars' is not one of"):
        DealSize(1.0, basis="dollars")
