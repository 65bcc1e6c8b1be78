"""The MLflow side, against a real tracking + registry store (SQLite, local artifacts)."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from scoring.cli.main import app
from scoring.model import registry
from scoring.model.predict import score_table
from scoring.model.scorer import LeadScorer
from tests.conftest import REPO
from training import tracking
from training.pipeline.run import TrainResult

runner = CliRunner()


def test_registry_round_trip_and_aliases(trained: TrainResult, mlflow_store: str, tmp_path) -> None:
    # given two registered versions of the same training
    run_1, v1 = tracking.log_training(trained, {}, register=True)
    _, v2 = tracking.log_training(trained, {}, register=True)
    client = registry.setup()
    assert (v1, v2) == ("1", "2")
    # when v1 then v2 are promoted
    assert registry.promote(client, v1) is None
    assert registry.promote(client, "latest") == "1"
    # then champion is v2 and previous v1; rollback swaps them
    assert registry.alias_version(client, "champion") == "2"
    assert registry.alias_version(client, "previous") == "1"
    assert registry.rollback(client) == ("1", "2")
    # and the champion loads through MLflow and scores exactly like the runtime class
    model = mlflow.pyfunc.load_model("models:/lead-scoring@champion")
    test = trained.data.part("test")
    rows = pd.DataFrame({"lead_id": test.features.index[:5], "title": ["VP Sales"] * 5})
    expected = score_table(trained.scorer, rows)
    pd.testing.assert_frame_equal(model.predict(rows), expected)
    # and the logged run carries the config, the packages, the data fingerprint and the code
    run = client.get_run(run_1)
    assert run.data.params["data_fingerprint"] == trained.data.fingerprint()
    assert run.data.tags["code_version"]
    assert run.data.metrics["combined_roc_auc"] == pytest.approx(
        trained.metrics["combined"]["roc_auc"]
    )
    assert registry.logged_config(client, run_1) == trained.config
    # and an export into models/ holds the scorer the service can load directly
    path = registry.export(client, "1", tmp_path / "models")
    exported = LeadScorer.load(next(path.rglob("scorer.json")).parent)
    assert exported.thresholds == trained.scorer.thresholds


def test_gate_refusal_is_logged_but_not_registered(trained: TrainResult, mlflow_store: str) -> None:
    run_id, version = tracking.log_training(trained, {}, register=False)
    client = registry.setup()
    assert version is None
    assert client.get_run(run_id).info.status == "FINISHED"
    assert registry.versions(client).empty


def test_train_from_run_reproduces_the_metrics(demo_config, mlflow_store: str, tmp_path) -> None:
    config = tmp_path / "demo.yaml"
    config.write_text((REPO / "configs/demo.yaml").read_text())
    first = runner.invoke(app, ["train", "-c", str(config), "--db", demo_config.source.database])
    assert first.exit_code == 0, first.output
    assert "registered lead-scoring version 1" in first.output
    client = registry.setup()
    run_1 = client.search_runs(client.get_experiment_by_name("lead-scoring").experiment_id)[0]
    again = runner.invoke(app, ["train", "--from-run", run_1.info.run_id])
    assert again.exit_code == 0, again.output
    runs = client.search_runs(
        client.get_experiment_by_name("lead-scoring").experiment_id, order_by=["start_time ASC"]
    )
    assert len(runs) == 2
    assert runs[0].data.metrics == runs[1].data.metrics
    assert runs[0].data.params == runs[1].data.params
    listing = runner.invoke(app, ["models"])
    assert listing.exit_code == 0 and "demo" in listing.output


def test_retuning_registers_a_version_that_shares_the_boosters(
    trained: TrainResult, mlflow_store: str, tmp_path
) -> None:
    # given a registered champion with the default cut-offs
    run_id, v1 = tracking.log_training(trained, {}, register=True)
    client = registry.setup()
    registry.promote(client, v1)
    # and a config whose AEs cost a quarter of the default
    config = tmp_path / "cheap-ae.yaml"
    text = (REPO / "configs/demo.yaml").read_text()
    config.write_text(text + "costs:\n  ae_cost_per_sql: 100\n")
    db = trained.config.source.database
    # when the version is re-tuned with those costs, twice (the second run resumes the study)
    args = ["tune-thresholds", "--model-version", v1, "-c", str(config), "--db", db]
    first = runner.invoke(app, [*args, "--trials", "60"])
    assert first.exit_code == 0, first.output
    assert "registered lead-scoring version 2 (boosters of version 1)" in first.output
    # then version 2 has tuned thresholds, the new costs and byte-identical boosters
    tuned, tuned_run = registry.load_scorer(client, "2")
    original, _ = registry.load_scorer(client, "1")
    assert tuned_run == run_id
    assert tuned.thresholds.source == "tuned" and tuned.thresholds != original.thresholds
    assert tuned.config.costs.ae_cost_per_sql == 100
    for name, part in original.parts.items():
        assert tuned.parts[name].booster.model_to_string() == part.booster.model_to_string()
    assert client.get_model_version("lead-scoring", "2").tags["boosters_from_version"] == "1"
    # and the study, its plots and the weekly figures sit on the training run
    run = client.get_run(run_id)
    assert run.data.metrics["threshold_sql"] == pytest.approx(tuned.thresholds.sql)
    study = first.output.split("threshold study ")[1].split(":")[0]
    logged = {a.path for a in client.list_artifacts(run_id, f"thresholds/{study}")}
    for name in ("summary.json", "trials.csv", "weekly.csv", "pareto.png", "weekly.png"):
        assert f"thresholds/{study}/{name}" in logged
    # and serving version 2 uses its thresholds with no other configuration
    registry.promote(client, "2")
    model = mlflow.pyfunc.load_model("models:/lead-scoring@champion")
    rows = pd.DataFrame({"lead_id": trained.data.part("test").features.index[:50]})
    scored = model.predict(rows)
    expected = tuned.stage(
        expected_revenue=scored["expected_revenue"].to_numpy(),
        fit_score=scored["fit_score"].to_numpy(),
    )
    assert scored["stage"].tolist() == list(expected)
    # and asking again resumes the same study: no new trials beyond the 60, a third version
    again = runner.invoke(app, [*args, "--trials", "60"])
    assert again.exit_code == 0, again.output
    assert f"threshold study {study}: 60 trials" in again.output
