"""Training on a source shaped like a real export (tests/training/pipeline/bank_world.py): no
deal amounts, a yes/no target, few wins. It trains, says how it weighed leads, prices a win by
`leads.deal_value`, and never claims a lead cannot win or cannot lose."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from scoring.model import registry
from scoring.model.predict import score_table
from scoring.model.scorer import LeadScorer
from tests.training.pipeline.bank_world import bank_leads, train_bank
from training import tracking
from training.pipeline.boosters import DEV, blocks
from training.pipeline.dataset import (
    NO_AMOUNTS,
    TrainingSet,
    revenue_weights,
    weighting_used,
)
from training.pipeline.fit import probability_bound
from training.pipeline.run import TrainResult, check_folds
from training.pipeline.stacker import MIN_ISOTONIC_WINS, isotonic_on, isotonic_verdict


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train_bank(tmp_path_factory.mktemp("bank"))


def _fold_logits(scorer: LeadScorer, data: TrainingSet) -> np.ndarray:
    return np.column_stack([p.raw(data.features) for p in scorer.parts.values()])


def test_training_without_amounts_weighs_leads_evenly_and_says_so(bank: TrainResult) -> None:
    # given a source with revenue weighting configured but no amount column
    assert bank.config.training.weighting == "revenue" and not bank.data.has_amounts
    # then training ran unweighted, and the result, the model and the gate message say so
    assert bank.weighting == NO_AMOUNTS == bank.scorer.metadata["weighting"]
    assert "Trained unweighted: training.weighting is revenue but no lead has an amount" in (
        bank.gate.message
    )
    assert bank.gate.message.endswith("(a won deal counts 1; set leads.deal_value to value it).")
    # and every metric of every model is a number; revenue-weighted ones are per win
    for name, report in bank.metrics.items():
        assert all(np.isfinite(v) for v in report.values()), name
        assert report["revenue_weighted_auc"] == pytest.approx(report["roc_auc"], abs=1e-12)
    assert bank.metrics["combined"]["roc_auc"] > 0.6


def test_without_amounts_expected_revenue_is_the_win_probability(bank: TrainResult) -> None:
    deal = bank.scorer.deal_size
    assert (deal.basis, deal.default_amount, deal.part) == ("win", 1.0, None)
    scores = bank.scorer.score(bank.data.part("test").features)
    np.testing.assert_array_equal(scores["expected_revenue"], scores["win_probability"])
    # the default cut-offs are then on the win probability itself
    assert 0 < bank.scorer.thresholds.mql <= bank.scorer.thresholds.sql < 1


def test_deal_value_prices_every_win(tmp_path: Path, bank: TrainResult) -> None:
    priced = train_bank(tmp_path, deal_value=2500)
    deal = priced.scorer.deal_size
    assert (deal.basis, deal.default_amount, deal.part) == ("deal_value", 2500.0, None)
    scores = priced.scorer.score(priced.data.part("test").features)
    np.testing.assert_allclose(scores["expected_revenue"], 2500 * scores["win_probability"])
    assert "expected revenue is win probability x leads.deal_value (2500)." in priced.gate.message
    # the deal value scales money, not the ranking: the same models and metrics
    assert priced.metrics["combined"] == bank.metrics["combined"]


def test_revenue_weighting_applies_when_some_lead_has_an_amount(bank: TrainResult) -> None:
    data = bank.data
    won = (data.label == 1).to_numpy()
    amounts = pd.Series(np.where(won, np.linspace(1e3, 9e4, len(won)), np.nan), data.label.index)
    priced = dataclasses.replace(data, amount=amounts)
    estimate = np.full(len(won), 5e3)
    assert weighting_used(bank.config, priced) == "revenue"
    assert np.unique(revenue_weights(bank.config, priced, estimate)).size > 1
    # without amounts, or with weighting turned off, every lead weighs 1
    np.testing.assert_array_equal(revenue_weights(bank.config, data, estimate), 1.0)
    off = bank.config.model_copy(
        update={"training": bank.config.training.model_copy(update={"weighting": "none"})}
    )
    assert weighting_used(off, priced) == "none"
    np.testing.assert_array_equal(revenue_weights(off, priced, estimate), 1.0)


def test_no_lead_gets_a_probability_of_exactly_0_or_1(bank: TrainResult) -> None:
    scorer, data = bank.scorer, bank.data
    learnt_from = int((data.fold != "test").sum())  # every development lead
    assert scorer.calibration.bound == probability_bound(learnt_from) == 1 / (learnt_from + 2)
    # leads far outside what training saw: every field missing, or extreme
    blank = data.features.iloc[:2].copy()
    blank.loc[:] = np.nan
    extreme = data.features.iloc[:2].copy()
    extreme[["age", "previous"]] = [[1e9, 1e9], [-1e9, -1e9]]
    leads = pd.concat([data.features, blank, extreme])
    for p in (
        scorer.score(leads)["win_probability"].to_numpy(),
        scorer.score_arrays({c: leads[c].to_numpy() for c in leads.columns})["win_probability"],
    ):
        assert ((p > 0) & (p < 1)).all()
        assert p.min() >= scorer.calibration.bound and p.max() <= 1 - scorer.calibration.bound


def test_isotonic_steps_at_0_are_bounded_too(bank: TrainResult) -> None:
    # given isotonic steps fitted on a small, imbalanced fold (the training chose sigmoid;
    # isotonic is forced here), whose lowest block holds no win
    scorer, cal = bank.scorer, bank.data.part("calibration")
    iso = isotonic_on(scorer.calibration, _fold_logits(scorer, cal), cal.label.to_numpy())
    assert iso.iso_y[0] == 0.0
    forced = dataclasses.replace(scorer, calibration=iso)
    # then the runtime still says the least probability the history can stand behind, not 0
    p = forced.score(bank.data.features)["win_probability"].to_numpy()
    assert p.min() == pytest.approx(scorer.calibration.bound) and (p < 1).all()


def test_few_wins_per_block_calibrate_with_the_stacker(bank: TrainResult) -> None:
    dev = bank.data.part(*DEV)
    block = blocks(dev, bank.config.training.cross_folds)
    assert dev.timed  # chaining forward: the first block has no out-of-fold logits
    held = block > 0
    wins = dev.label[held].groupby(block[held]).sum()
    assert wins.min() < MIN_ISOTONIC_WINS
    assert bank.scorer.calibration.method == "sigmoid"
    assert bank.scorer.metadata["calibration"] == (
        f"sigmoid: isotonic needs {MIN_ISOTONIC_WINS} wins in the out-of-fold leads and in each "
        f"cross-fitting block, found {int(dev.label[held].sum())} and {wins.min()} at the fewest"
    )
    assert set(bank.calibration_losses) == {"sigmoid", "isotonic"}


def test_isotonic_needs_wins_and_a_gain_beyond_noise() -> None:
    rng = np.random.default_rng(0)
    clear = rng.normal(0.01, 0.05, 2000)  # mean gain 0.01, standard error about 0.001
    noisy = rng.normal(0.001, 0.2, 2000)  # lower loss on average, but by less than the noise
    assert noisy.mean() > 0
    chosen, why = isotonic_verdict((60, 60), clear, 300, 7)
    lowers = f"isotonic: lowers out-of-block log loss by {clear.mean():+.5f}"
    assert chosen and why.startswith(lowers)
    chosen, why = isotonic_verdict((60, 60), noisy, 300, 7)
    assert not chosen and why.endswith("is within noise")
    chosen, why = isotonic_verdict((60, 60), -clear, 300, 7)
    assert not chosen and why.startswith("sigmoid: isotonic does not lower out-of-block log loss")
    chosen, why = isotonic_verdict((60, 49), clear, 300, 7)
    assert not chosen and "found 60 and 49" in why


def test_a_fold_without_wins_stops_with_the_fold_named(bank: TrainResult) -> None:
    data, cfg = bank.data, bank.config
    check_folds(cfg, data)  # the real folds have both
    test_lost = int((data.fold == "test").sum())
    no_wins = dataclasses.replace(data, label=data.label.where(data.fold != "test", 0))
    with pytest.raises(ValueError, match=f"the test fold has 0 won and {test_lost} lost"):
        check_folds(cfg, no_wins)
    dev = data.part(*DEV)
    first = dev.label.index[blocks(dev, cfg.training.cross_folds) == 0]
    no_wins = dataclasses.replace(data, label=data.label.where(~data.label.index.isin(first), 0))
    with pytest.raises(ValueError, match="cross-fitting block 1 of the development leads has 0"):
        check_folds(cfg, no_wins)


@pytest.mark.slow  # an MLflow store and a logged model: about 12 s
def test_the_logged_model_takes_typed_and_string_columns(
    bank: TrainResult, mlflow_store: str
) -> None:
    # given the training logged to MLflow
    run_id, _ = tracking.log_training(bank, {}, register=False)
    params = registry.setup().get_run(run_id).data.params
    assert params["weighting_used"] == NO_AMOUNTS and params["deal_size_basis"] == "win"
    assert params["calibration_choice"] == bank.scorer.metadata["calibration"]
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    # when leads come as the export's strings, and as a typed frame (numbers, booleans, dates)
    strings = bank_leads().iloc[:6].drop(columns=["created_at", "y"])
    strings["as_of"] = "2025-01-15T12:00:00Z"
    typed = strings.assign(
        age=strings["age"].astype(int),
        branch=pd.to_numeric(strings["branch"]).astype(float),
        housing=(strings["housing"] == "ja").astype(object),
        previous=strings["previous"].astype(float),
        last_contact=pd.to_datetime(strings["last_contact"]),
        as_of=pd.Timestamp("2025-01-15 12:00", tz="UTC"),
    )
    typed.loc[typed.index[0], ["previous", "branch", "housing"]] = [np.nan, np.nan, None]
    strings.loc[strings.index[0], ["previous", "branch", "housing"]] = [None, None, None]
    # then MLflow passes both through and both score as the runtime does
    expected = score_table(bank.registered, strings)
    assert expected["win_probability"].nunique() > 1
    pd.testing.assert_frame_equal(model.predict(strings), expected)
    pd.testing.assert_frame_equal(model.predict(typed), expected)
