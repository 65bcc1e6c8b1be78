"""The model card written at training: its contents and size, the what-if grid held to the
replay's own figures, `choose` reproducing the study, and the card and report page logged
with every model version in MLflow."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from scoring.model import registry
from scoring.monitoring.whatif import Costs, choose, fits, net_value
from training import tracking
from training.pipeline.card import jsonable
from training.pipeline.run import TrainResult
from training.thresholds.replay import Policy, Replay
from training.thresholds.study import TuneResult, tune

TRIALS = 60


@pytest.fixture(scope="module")
def tuning(replay: Replay) -> TuneResult:
    return tune(replay, TRIALS, seed=0)


@pytest.fixture(scope="module")
def tuned(trained: TrainResult, tuning: TuneResult) -> TrainResult:
    return trained.with_thresholds(tuning.thresholds())


@pytest.fixture(scope="module")
def card(tuned: TrainResult, tuning: TuneResult, replay: Replay) -> dict:
    return tracking.training_card(tuned, (tuning, replay))


def _policy(row: list[float]) -> Policy:
    return Policy(row[0], row[1], row[2])


def test_the_card_says_what_the_model_learnt_from_and_how_good_it_is(
    card: dict, tuned: TrainResult
) -> None:
    data = tuned.data
    assert card["source"] == "demo" and card["registered_model"] == "lead-scoring"
    assert card["data"]["leads"] == len(data.label) and card["data"]["won"] == data.label.sum()
    period = card["data"]["period"]
    assert period["first"] is not None and period["first"] < period["last"]
    assert card["metrics"] == jsonable(tuned.metrics)
    assert set(card["metrics"]) >= {"combined", "logistic_regression", "naive_bayes"}
    curve = card["calibration_curve"]
    test_leads = len(tuned.predictions["combined"])
    assert sum(b["leads"] for b in curve) == card["data"]["test_leads"] == test_leads
    predicted = [b["predicted"] for b in curve]
    assert predicted == sorted(predicted)
    assert abs(np.mean([b["observed"] for b in curve]) - data.part("test").label.mean()) < 0.01
    impacts = [f["mean_abs_points"] for f in card["top_fields"]]
    assert impacts == sorted(impacts, reverse=True) and impacts[0] > 0
    assert {f["model"] for f in card["top_fields"]} == {"fit", "intent"}
    assert card["gate"] == {"passed": tuned.gate.passed, "message": tuned.gate.message}
    assert card["cutoffs_in_use"]["source"] == "tuned"
    size = len(json.dumps(card, allow_nan=False))
    assert size < 300_000, f"card of {size / 1024:.0f} KB"


def test_grid_rows_are_the_replays_own_figures(card: dict, replay: Replay) -> None:
    grid = card["thresholds"]["grid"]
    costs = Costs.of(card["thresholds"]["costs"])
    assert grid["per_week"] == replay.per_week and len(grid["rows"]) > 500
    for row in grid["rows"][::23]:
        outcome = replay.evaluate(_policy(row))
        assert (row[3], row[4], row[5]) == (outcome.revenue, outcome.mqls, outcome.ae_load)
        assert net_value(row, costs) == pytest.approx(outcome.net_value, rel=1e-12, abs=1e-6)
        load = replay.load(outcome)
        assert (row[4] * grid["per_week"], row[5] * grid["per_week"]) == (
            load.sdr_per_week,
            load.ae_per_week,
        )
        assert fits(row, costs, grid["per_week"]) == replay.within_capacity(load)


def test_choose_reproduces_the_study_under_the_trained_costs(
    card: dict, tuning: TuneResult
) -> None:
    th = card["thresholds"]
    assert th["chosen"] == {
        "mql": tuning.policy.mql,
        "sql": tuning.policy.sql,
        "min_fit": tuning.policy.min_fit,
    }
    assert th["grid"]["rows"][0][:3] == [
        tuning.policy.mql,
        tuning.policy.sql,
        tuning.policy.min_fit,
    ]
    choice = choose(th["grid"], Costs.of(th["costs"]))
    assert choice is not None
    tolerance = 1e-9 * abs(tuning.outcome.net_value)
    assert choice.net_value >= tuning.outcome.net_value - tolerance
    assert th["outcome"]["net_value"] == tuning.outcome.net_value
    assert [p["net_value"] for p in th["pareto"]] == [t.net_value for t in tuning.pareto]


def test_choose_under_other_costs_is_the_best_policy_the_replay_prices(
    card: dict, replay: Replay
) -> None:
    # given dearer AEs and a smaller AE team than trained with
    changed = replay.costs.model_copy(
        update={"ae_cost_per_sql": 700.0, "ae_capacity_per_week": 35.0, "sdr_cost_per_mql": 55.0}
    )
    other = replay.with_costs(changed)
    choice = choose(card["thresholds"]["grid"], Costs.of(changed.model_dump()))
    assert choice is not None
    # then the replay under those costs gives the same net value and load for the choice ...
    outcome = other.evaluate(Policy(choice.mql, choice.sql, choice.min_fit))
    assert choice.net_value == pytest.approx(outcome.net_value, rel=1e-12, abs=1e-6)
    load = other.load(outcome)
    assert (choice.sdr_per_week, choice.ae_per_week) == (load.sdr_per_week, load.ae_per_week)
    assert other.within_capacity(load)
    # ... and no stored policy that fits earns more there
    best = max(
        (
            o.net_value
            for o in map(other.evaluate, map(_policy, card["thresholds"]["grid"]["rows"]))
            if other.within_capacity(other.load(o))
        ),
    )
    assert choice.net_value == pytest.approx(best, rel=1e-12, abs=1e-6)


def test_card_and_report_page_are_logged_with_each_version(
    mlflow_store: str, tuned: TrainResult, tuning: TuneResult, replay: Replay
) -> None:
    run_id, version = tracking.log_training(tuned, {}, register=True, tuning=(tuning, replay))
    assert version is not None
    client = MlflowClient()
    card = tracking.logged_card(client, version, "demo")
    assert card is not None and card["thresholds"]["study"] == tuning.study_name
    page = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="report"))
    html = (page / "report.html").read_text()
    for key in ("model-card", "thresholds", "whatif", "monitoring", "funnel"):
        assert f'data-testid="section-{key}"' in html
    assert 'data-testid="empty-monitoring"' in html and 'id="whatif-data"' in html
    # a re-tuned version keeps the card of its boosters with its own study
    retuned = dict(tuning.__dict__) | {"study_name": "thresholds-retuned"}
    new = tracking.register_retuned(
        client, version, tuned.registered, TuneResult(**retuned), replay
    )
    again = tracking.logged_card(client, new, "demo")
    assert again is not None and again["thresholds"]["study"] == "thresholds-retuned"
    assert again["data"] == card["data"] and again["metrics"] == card["metrics"]
    with tempfile.TemporaryDirectory() as tmp:
        got = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="report/model-thresholds-retuned", dst_path=tmp
        )
        assert (Path(got) / "report.html").is_file()
    assert registry.model_name("demo") == card["registered_model"]
