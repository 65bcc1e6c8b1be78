"""The training recipe: cross-fitting blocks in fold order, out-of-fold logits from boosters that
never saw the block, the booster search (seeded, starting from the defaults, resumable) and
what the model and the MLflow run say about it."""

from __future__ import annotations

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
import sqlalchemy as sa
from scipy.optimize import minimize_scalar
from sklearn.metrics import roc_auc_score

from scoring.config import Config
from scoring.model.scorer import Encoder, sigmoid
from training import tracking
from training.pipeline.boosters import (
    DEV,
    _rate_shift,
    blocks,
    categorical,
    cross_folds,
    cross_validate,
    groups,
    level_free_log_loss,
    lightgbm_params,
    log_losses,
    min_data_in_leaf,
    stop_rows,
)
from training.pipeline.dataset import TrainingSet
from training.pipeline.fit import fit_scorer, held_out_model, refit
from training.pipeline.run import TrainResult, run_training
from training.pipeline.search import SPACE, search_params
from training.pipeline.stacker import JOINT_ALONE_WINS, choose_parts, ranks_held_out_blocks, stack


def _small(data: TrainingSet, n: int = 6000) -> TrainingSet:
    return data.subset(np.arange(len(data.label)) < n)


def _blocks_of(trained: TrainResult, k: int, group: str) -> tuple[TrainingSet, np.ndarray, Encoder]:
    """6,000 demo leads' development part, its `k` blocks and an encoder of `group`."""
    dev = _small(trained.data).part(*DEV)
    names = groups(trained.config)[group]
    return dev, blocks(dev, k), Encoder.fit(dev.features, names, categorical(trained.config))


def _with(cfg: Config, **training: object) -> Config:
    return cfg.model_copy(update={"training": cfg.training.model_copy(update=training)})


def test_blocks_are_contiguous_in_fold_order_and_even(trained: TrainResult) -> None:
    dev = trained.data.part(*DEV)
    block = blocks(dev, 5)
    ordered = block[dev.order]
    assert (np.diff(ordered) >= 0).all()  # block 0 first in time, block 4 last
    sizes = np.bincount(block)
    assert len(sizes) == 5 and sizes.max() - sizes.min() <= 1
    stop = stop_rows(dev, block != 4)
    assert not (stop & (block == 4)).any()
    assert abs(stop.sum() - (block != 4).sum() / 10) <= 1


def test_every_development_lead_trains_the_boosters_and_the_calibration(
    trained: TrainResult,
) -> None:
    meta = trained.scorer.metadata
    dev_leads = int((trained.data.fold != "test").sum())
    assert f"cross-fitted over 5 blocks of the {dev_leads:,} development leads" in meta["recipe"]
    assert {"fit", "intent"} <= set(meta["rounds"]) <= {"fit", "intent", "joint"}
    assert min(meta["rounds"].values()) > 1
    assert "each block from the earlier ones" in meta["recipe"]  # the demo's folds are by time
    assert trained.scorer.calibration.bound == 1 / (dev_leads + 2)
    for part, booster in trained.scorer.parts.items():
        assert booster.booster.current_iteration() == meta["rounds"][part]


def test_out_of_fold_logits_come_from_boosters_that_did_not_see_the_block(
    trained: TrainResult,
) -> None:
    cfg = trained.config
    dev, block, encoder = _blocks_of(trained, 3, "intent")
    x = encoder.transform(dev.features)
    y = dev.label.to_numpy()
    cv = cross_validate(encoder, (dev.features, y, None), block, lightgbm_params(cfg))
    # when block 0's outcomes are flipped
    flipped = np.where(block == 0, 1 - y, y)
    other = cross_validate(encoder, (dev.features, flipped, None), block, lightgbm_params(cfg))
    # then the booster that predicts block 0 is the same tree for tree (it never saw block 0;
    # only where the blocks stop together may differ), and the others are not
    held = block == 0
    upto = min(cv.rounds, other.rounds)
    same = [b.predict(x[held], num_iteration=upto) for b in (cv.boosters[0], other.boosters[0])]
    np.testing.assert_array_equal(*same)
    moved = [b.predict(x[~held], num_iteration=upto) for b in (cv.boosters[1], other.boosters[1])]
    assert not np.allclose(*moved)
    assert cv.out_of_fold(x, block).shape == (len(y),)


def test_the_search_starts_from_the_defaults_and_resumes(trained: TrainResult) -> None:
    cfg = _with(trained.config, tune_trials=3, tune_seconds=3600)  # trials, not time, end it
    data = _small(trained.data)
    dev = data.part(*DEV)
    block = blocks(dev, cfg.training.cross_folds)
    weights = np.ones(len(dev.label))
    storage = optuna.storages.InMemoryStorage()
    # a study kept from before the level-free loss, on the same leads: values of another loss
    old = f"boosters-fit-{dev.fingerprint()[:10]}-seed{cfg.training.seed}"
    stale = optuna.create_study(study_name=old, storage=storage)
    stale.optimize(lambda t: t.suggest_float("learning_rate", 0.02, 0.2) * 0, n_trials=3)
    found = search_params(cfg, dev, block, weights, storage)
    defaults = lightgbm_params(cfg, leads=len(dev.label))
    assert found.studies["fit"].study_name != old and found.studies["fit"].best_value > 0
    for part, study in found.studies.items():
        assert len(study.trials) == 3
        first = study.trials[0].params
        assert first == pytest.approx({name: defaults[name] for name in SPACE}), part
        assert found.params[part]["learning_rate"] == study.best_params["learning_rate"]
        assert study.best_value <= study.trials[0].value
    again = search_params(cfg, dev, block, weights, storage)  # nothing left to run
    assert {p: len(s.trials) for p, s in again.studies.items()} == {
        "fit": 3,
        "intent": 3,
        "joint": 3,
    }
    assert again.params == found.params
    more = search_params(_with(cfg, tune_trials=4), dev, block, weights, storage)
    assert {p: len(s.trials) for p, s in more.studies.items()} == {
        "fit": 4,
        "intent": 4,
        "joint": 4,
    }


def test_the_smallest_leaf_shrinks_with_a_small_export_only() -> None:
    assert min_data_in_leaf(None) == 80
    assert [min_data_in_leaf(n) for n in (100, 180, 800, 1_600, 20_000)] == [10, 10, 40, 80, 80]


def test_without_a_search_a_small_export_still_learns(trained: TrainResult) -> None:
    """300 leads across the folds with the default settings: a leaf of 80 leads leaves the
    cross-fitting boosters (48 to 192 leads) next to no split, and the model near the base rate;
    a leaf scaled to the export lets them learn."""
    cfg = _with(trained.config, tune_trials=0)
    data = trained.data.subset(np.arange(len(trained.data.label)) % 66 == 0)
    assert 250 < len(data.label) < 350

    def test_auc(cfg: Config) -> float:
        scorer, _ = fit_scorer(cfg, data)
        test = data.part("test")
        return roc_auc_score(test.label, scorer.score(test.features)["win_probability"])

    scaled, fixed = test_auc(cfg), test_auc(_with(cfg, lightgbm={"min_data_in_leaf": 80}))
    assert scaled > fixed + 0.05


def test_a_block_without_a_win_does_not_make_the_stack_chance() -> None:
    rng = np.random.default_rng(0)
    block = np.repeat(np.arange(4), 50)
    y = (rng.random(200) < 0.3).astype(float)
    y[block == 3] = 0  # a small export's last block: no win in it
    logits = (2 * y + rng.normal(0, 1, 200))[:, None]
    auc = ranks_held_out_blocks(logits, y, block)
    assert 0.8 < auc < 1.0
    assert np.isnan(ranks_held_out_blocks(logits, np.zeros(200), block))


def test_the_config_overrides_win_over_the_search(trained: TrainResult) -> None:
    """Settings the config fixes are not searched, even outside the search's ranges (L2 0 on
    its log scale once failed every trial), and a study under other fixed settings is not
    resumed."""
    data = _small(trained.data)
    dev = data.part(*DEV)
    fixed = {"num_leaves": 5, "lambda_l2": 0, "learning_rate": 0.5}
    cfg = _with(trained.config, tune_trials=2, lightgbm=fixed)
    storage = optuna.storages.InMemoryStorage()
    found = search_params(cfg, dev, blocks(dev, 5), np.ones(len(dev.label)), storage)
    for part, params in found.params.items():
        assert {k: params[k] for k in fixed} == fixed, part
        trials = found.studies[part].trials
        assert len(trials) == 2 and all(t.value is not None for t in trials)
        assert {name for t in trials for name in t.params} == {
            "min_data_in_leaf",
            "feature_fraction",
        }
    free = search_params(
        _with(cfg, lightgbm={}), dev, blocks(dev, 5), np.ones(len(dev.label)), storage
    )
    assert {len(s.trials) for s in free.studies.values()} == {2}  # its own studies
    assert {s.study_name for s in free.studies.values()}.isdisjoint(
        s.study_name for s in found.studies.values()
    )


@pytest.mark.slow  # an MLflow store: about 10 s
def test_each_search_trial_is_a_child_run_of_the_training_run(
    trained: TrainResult, mlflow_store: str
) -> None:
    run_id, _ = tracking.log_training(trained, {}, register=False)
    search = trained.scorer.metadata["search"]
    children = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{run_id}'", output_format="pandas"
    )
    assert isinstance(children, pd.DataFrame)
    expected = sum(len(found["trials"]) for found in search.values())
    assert expected == len(children) > 0
    assert set(children["tags.search_part"]) == set(search)
    assert children["metrics.level_free_log_loss"].notna().all()
    params = mlflow.get_run(run_id).data.params
    chosen = ("fit + intent stack", "fit + intent + joint stack", "joint booster alone")
    assert params["recipe"].startswith(chosen) and "cross-fitted over 5 blocks" in params["recipe"]
    assert params["refit"].startswith("refitted with the test fold")


def test_chaining_forward_each_block_learns_only_from_earlier_ones() -> None:
    block = np.repeat(np.arange(4), 5)
    folds = cross_folds(block, forward=True)
    assert [int(block[test[0]]) for _, test in folds] == [1, 2, 3]  # block 0 is never held out
    for fitted, test in folds:
        assert block[fitted].max() < block[test].min()
        assert set(block[fitted]) == set(range(block[test[0]]))
    around = cross_folds(block, forward=False)
    assert [sorted(set(block[fitted])) for fitted, _ in around] == [
        [1, 2, 3],
        [0, 2, 3],
        [0, 1, 3],
        [0, 1, 2],
    ]


def test_the_stopping_loss_leaves_a_blocks_base_rate_out() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 1.5, 2_000)
    y = (rng.random(2_000) < 1 / (1 + np.exp(-(z - 2)))).astype(float)
    losses = [level_free_log_loss(y, 1 / (1 + np.exp(-(z + c)))) for c in (-4.0, -2.0, 0.0, 3.0)]
    assert max(losses) - min(losses) < 1e-9  # the same ranking and spread, any level
    for c in (-4.0, 0.0, 3.0):
        p = 1 / (1 + np.exp(-(z + c)))
        assert level_free_log_loss(y, p) <= log_losses(y, p).mean() + 1e-12
    # one class: the shift that fits its rate is infinite and the loss 0, whatever the booster
    assert level_free_log_loss(np.zeros(2_000), np.full(2_000, 0.1)) == 0.0
    # the shift is the maximum-likelihood one, even with leads near 0 and 1
    z = np.repeat([-20.0, 20.0], 1_000)
    y = np.r_[np.ones(600), np.zeros(1_400)]
    best = minimize_scalar(
        lambda shift: np.mean(np.logaddexp(0, z + shift) - y * (z + shift)),
        bounds=(-80, 80),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert level_free_log_loss(y, 1 / (1 + np.exp(-z))) == pytest.approx(best.fun, rel=1e-6)
    # and found when it is further than Newton's capped steps reach from the first guess
    far = np.repeat([-60.0, 60.0], 1_000)
    shift = _rate_shift(far, 0.3, 0.0)
    assert np.mean(1 / (1 + np.exp(-(far + shift)))) == pytest.approx(0.3, abs=1e-8)


def test_a_forward_chained_booster_predicts_every_block_but_the_first(
    trained: TrainResult,
) -> None:
    cfg = trained.config
    dev, block, encoder = _blocks_of(trained, 4, "fit")
    y = dev.label.to_numpy()
    cv = cross_validate(encoder, (dev.features, y, None), block, lightgbm_params(cfg), True)
    logits = cv.out_of_fold(encoder.transform(dev.features), block)
    assert cv.held == [1, 2, 3]
    assert np.isnan(logits[block == 0]).all() and not np.isnan(logits[block > 0]).any()


def test_the_stacker_weighs_ranking_within_a_period_not_the_base_rate_across_them() -> None:
    # given two periods where a part ranks leads well within each, but its level runs against
    # the base rate (the late period's leads score lower and win more)
    rng = np.random.default_rng(4)
    period = np.repeat([0, 1], 4000)
    rank = rng.normal(size=8000)
    y = (rng.random(8000) < 1 / (1 + np.exp(-(rank - 3 + 2.5 * period)))).astype(float)
    logits = (rank - 4 * period)[:, None]
    # pooled, the level swamps the ranking; with an intercept per period, the ranking counts
    pooled, within = stack(logits, y), stack(logits, y, period)
    assert pooled[1] < 0.2 < 0.8 < within[1]
    # and the one intercept then matches the base rate over both periods
    p = 1 / (1 + np.exp(-(within[0] + logits[:, 0] * within[1])))
    assert p.mean() == pytest.approx(y.mean(), abs=1e-6)


def interacting(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit and intent signals, outcomes with a fit x intent interaction the two parts alone
    cannot express, and 4 blocks."""
    rng = np.random.default_rng(seed)
    fit, intent = rng.normal(size=n), rng.normal(size=n)
    truth = 0.8 * fit + 0.8 * intent + 1.2 * fit * intent - 2.5
    y = (rng.random(n) < 1 / (1 + np.exp(-truth))).astype(float)
    return (
        np.column_stack([0.8 * fit, 0.8 * intent, truth]),
        y,
        np.repeat(np.arange(4), n // 4),
        rng,
    )


def test_the_joint_booster_joins_the_stack_only_when_it_adds_to_it() -> None:
    names = ["fit", "intent", "joint"]
    knows, y, block, rng = interacting(6000, 5)
    # a joint booster that learnt the interaction only
    sees = np.column_stack([knows[:, :2], knows[:, 2] - knows[:, 0] - knows[:, 1] + 2.5])
    chosen, losses, why = choose_parts(names, sees, y, block)
    assert chosen == names and losses["fit + intent + joint"] < losses["fit + intent"]
    assert why.startswith("fit + intent + joint stack")
    # one that learnt everything: with hundreds of wins it joins the two, it does not replace them
    assert y.sum() > 10 * JOINT_ALONE_WINS
    chosen, losses, why = choose_parts(names, knows, y, block)
    assert chosen == names and "joint alone" not in losses
    noise = np.column_stack([knows[:, :2], rng.normal(size=len(y))])
    chosen, _, why = choose_parts(names, noise, y, block)
    assert chosen == ["fit", "intent"] and why.startswith("fit + intent stack")


def test_on_a_few_dozen_wins_the_joint_booster_stands_alone() -> None:
    """On so few wins the held-out losses that would choose among the stacks are noise: the joint
    booster stands alone, here (a joint booster that knows everything the others do) with the
    lowest held-out loss too, and the losses of every recipe are reported."""
    knows, y, block, _ = interacting(200, 3)
    assert y.sum() < JOINT_ALONE_WINS
    chosen, losses, why = choose_parts(["fit", "intent", "joint"], knows, y, block)
    assert chosen == ["joint"] and why.startswith(f"joint booster alone ({int(y.sum())} held-out")
    assert set(losses) == {"fit + intent", "fit + intent + joint", "joint alone"}


def test_on_a_few_dozen_wins_the_held_out_losses_do_not_choose() -> None:
    """A joint booster worse than the stack on the held-out log loss still stands alone: on so
    few wins that difference is what picked the wrong stack on small exports (docs/training.md
    "Small exports"). One that ranks no better than chance does not: the model would fall to
    the base rate while the fit + intent stack ranks."""
    rng = np.random.default_rng(1)
    n = 400
    block = np.repeat(np.arange(5), n // 5)
    fit, intent = rng.normal(size=n), rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(fit + intent - 3.5)))).astype(float)
    assert y.sum() < JOINT_ALONE_WINS
    weaker = fit + rng.normal(scale=2.0, size=n)  # knows part of what the stack does
    logits = np.column_stack([fit, intent, weaker])
    chosen, losses, why = choose_parts(["fit", "intent", "joint"], logits, y, block)
    assert losses["joint alone"] > losses["fit + intent"]
    assert chosen == ["joint"] and f"{losses['joint alone']:.5f} for it alone" in why
    # the stacker weighs no logit below 0: one that ranks backwards gives every lead one score
    backwards = np.column_stack([fit, intent, -(fit + intent)])
    assert ranks_held_out_blocks(backwards[:, [2]], y, block) == 0.5
    chosen, _, why = choose_parts(["fit", "intent", "joint"], backwards, y, block)
    assert chosen == ["fit", "intent"] and why.startswith("fit + intent stack")
    assert "alone it ranks the held-out blocks no better than chance" in why


def test_a_part_kept_for_its_score_but_not_stacked_has_weight_zero(trained: TrainResult) -> None:
    """The joint booster alone: the fit and intent boosters give the two scores, the stacker
    weighs the joint booster only, and the refit keeps that recipe."""
    cfg = _with(trained.config, tune_trials=0)
    data = trained.data.subset(np.arange(len(trained.data.label)) % 4 == 0)  # every period
    scorer, _ = fit_scorer(cfg, data, isotonic=False, search=False, stacked=["joint"])
    assert list(scorer.parts) == ["fit", "intent", "joint"]
    assert scorer.metadata["stacked"] == ["joint"]
    assert scorer.calibration.weights[1:3] == (0.0, 0.0) and scorer.calibration.weights[3] > 0
    test = data.part("test").features
    assert len(test) > 500
    p = scorer.score(test)["win_probability"].to_numpy()
    z = scorer.calibration.weights[0] + scorer.calibration.weights[3] * scorer.parts["joint"].raw(
        test
    )
    bound = scorer.calibration.bound
    np.testing.assert_allclose(p, np.clip(sigmoid(z), bound, 1 - bound), rtol=1e-12)
    again = refit(cfg, data, scorer)
    assert again.metadata["stacked"] == ["joint"] and list(again.parts) == list(scorer.parts)
    assert again.calibration.weights[1:3] == (0.0, 0.0)


def test_the_registered_model_is_refitted_with_the_test_fold(trained: TrainResult) -> None:
    evaluated, registered = trained.scorer, trained.registered
    assert registered is trained.refitted and registered is not evaluated
    assert list(registered.parts) == list(evaluated.parts)  # the recipe evaluated
    for part, found in evaluated.metadata["search"].items():
        assert registered.metadata["search"][part]["params"] == found["params"]
    labelled = len(trained.data.label)
    assert registered.metadata["refit"].startswith(
        f"refitted with the test fold ({labelled:,} labelled leads"
    )
    assert registered.calibration.bound == 1 / (labelled + 2)
    assert registered.thresholds == evaluated.thresholds
    # the threshold replay needs a model that never saw the test fold: fitting the recipe again
    # on the development leads gives back the evaluated model, bit for bit
    held_out = held_out_model(trained.config, trained.data, registered)
    test = trained.data.part("test").features
    np.testing.assert_array_equal(
        held_out.score(test)["win_probability"], evaluated.score(test)["win_probability"]
    )
    assert held_out_model(trained.config, trained.data, evaluated) is evaluated


def test_without_refit_the_evaluated_model_is_registered(trained: TrainResult) -> None:
    cfg = _with(trained.config, refit_with_test=False)
    result = run_training(cfg, sa.create_engine(cfg.source.database))
    assert result.refitted is None and result.registered is result.scorer
    assert "refit" not in result.registered.metadata
