"""The MLflow side, against a real tracking + registry store (SQLite, local artifacts): one
registered model per data source, each with its own champion and previous version."""

from __future__ import annotations

import contextlib
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from scoring.cli.main import app
from scoring.config import ConfigError
from scoring.model import registry
from scoring.model.predict import score_table
from scoring.model.scorer import LeadScorer
from tests.conftest import REPO, TINY_CONFIG, as_source
from training import tracking
from training.pipeline.run import TrainResult

runner = CliRunner()
WIDE = {"COLUMNS": "200"}  # help text on one line per option


def _register(client: MlflowClient, source: str, name: str | None = None) -> str:
    """A registered version of `source` without a trained model (promotion, rollback and the
    listing read only the registry, the run's tags and metrics): under the source's model, or
    under `name` as a store from before per-source models holds it."""
    name = name or registry.model_name(source)
    with mlflow.start_run() as run:
        mlflow.set_tag("source", source)
        mlflow.log_metric("combined_roc_auc", 0.8)
        mlflow.log_text("placeholder", "model/MLmodel")
    with contextlib.suppress(MlflowException):  # already registered
        client.create_registered_model(name)
    source_uri = f"{run.info.artifact_uri}/model"
    return str(client.create_model_version(name, source_uri, run_id=run.info.run_id).version)


def _aliases(client: MlflowClient, source: str) -> tuple[str | None, str | None]:
    return (
        registry.alias_version(client, registry.CHAMPION, source=source),
        registry.alias_version(client, registry.PREVIOUS, source=source),
    )


def test_each_source_has_its_own_registered_model_name() -> None:
    assert registry.model_name("demo") == "lead-scoring" == registry.MODEL_NAME
    assert registry.model_name("maven-crm") == "lead-scoring-maven-crm"
    assert registry.model_name("uci_bank") == "lead-scoring-uci_bank"
    assert registry.champion_uri("maven-crm") == "models:/lead-scoring-maven-crm@champion"
    assert registry.champion_uri() == registry.CHAMPION_URI == "models:/lead-scoring@champion"
    for source in ("demo", "maven-crm", "uci_bank", "x"):
        assert registry.source_of(registry.model_name(source)) == source
    for other in ("lead-scoring-demo", "lead-scoringx", "churn", "lead-scoring-"):
        assert registry.source_of(other) is None
    # a name that is no BentoML tag (the service's model is stored under it) is refused
    for bad in ("Maven CRM", "maven/crm", "-maven", "maven-", "", "x" * 51):
        with pytest.raises(ConfigError, match="cannot name a registered model"):
            registry.model_name(bad)
    assert len(registry.model_name("x" * 50)) == 63


def test_two_sources_in_one_store_keep_separate_champions(mlflow_store: str) -> None:
    client = registry.setup()
    # given two sources trained in turns into one store
    for source in ("demo", "maven-crm", "demo", "maven-crm", "maven-crm"):
        _register(client, source)
    # then each source numbers and lists its own versions
    assert registry.sources(client) == ["demo", "maven-crm"]
    assert registry.versions(client)["version"].tolist() == [1, 2]
    assert set(registry.versions(client)["source"]) == {"demo"}
    maven = registry.versions(client, source="maven-crm")
    assert maven["version"].tolist() == [1, 2, 3] and set(maven["source"]) == {"maven-crm"}
    # when each source promotes its first version, then its latest
    assert registry.promote(client, "1") is None
    assert registry.promote(client, "1", source="maven-crm") is None
    assert registry.promote(client, "latest", source="maven-crm") == "1"
    # then the other source's champion did not move, and `previous` is the source's own
    assert _aliases(client, "demo") == ("1", None)
    assert _aliases(client, "maven-crm") == ("3", "1")
    assert registry.promote(client, "latest") == "1"
    assert _aliases(client, "demo") == ("2", "1")
    # and a rollback of one source never touches the other
    assert registry.rollback(client, source="maven-crm") == ("1", "3")
    assert _aliases(client, "maven-crm") == ("1", "3")
    assert _aliases(client, "demo") == ("2", "1")
    assert registry.rollback(client) == ("1", "2")
    assert _aliases(client, "maven-crm") == ("1", "3")
    # and a source with one version has nothing to roll back to, whatever the others have
    _register(client, "uci-bank")
    registry.promote(client, "latest", source="uci-bank")
    with pytest.raises(ValueError, match="lead-scoring-uci-bank has no `previous` version"):
        registry.rollback(client, source="uci-bank")
    with pytest.raises(ValueError, match="lead-scoring has no version 3"):
        registry.promote(client, "3")  # maven-crm has a version 3; the demo has not
    with pytest.raises(ValueError, match="no registered version of lead-scoring-snapshot-demo"):
        registry.promote(client, "latest", source="snapshot-demo")


def test_a_store_from_before_per_source_models_is_never_crossed(mlflow_store: str) -> None:
    client = registry.setup()
    # given the old single `lead-scoring` model holding two sources' versions in turns
    for source in ("demo", "maven-crm", "demo"):
        _register(client, source, name=registry.MODEL_NAME)
    # then the demo cannot promote the other source's version
    with pytest.raises(ValueError, match="version 2 was trained on source 'maven-crm', not 'demo'"):
        registry.promote(client, "2")
    assert registry.promote(client, "1") is None
    assert registry.promote(client, "latest") == "1"
    # and an old `previous` that points at the other source's version is not rolled back to
    client.set_registered_model_alias(registry.MODEL_NAME, registry.PREVIOUS, "2")
    with pytest.raises(ValueError, match="trained on source 'maven-crm'"):
        registry.rollback(client)
    assert _aliases(client, "demo") == ("3", "2")
    # and the listing shows which source each version was trained on
    assert registry.versions(client)["source"].tolist() == ["demo", "maven-crm", "demo"]
    # and an old champion trained on the other source is not served (nor imported) as the demo's
    client.set_registered_model_alias(registry.MODEL_NAME, registry.CHAMPION, "2")
    refused = runner.invoke(app, ["serve"])
    assert refused.exit_code == 2, refused.output
    assert "version 2 was trained on source 'maven-crm', not 'demo'" in refused.output


def test_commands_take_the_source_and_default_to_the_demo(mlflow_store: str, tmp_path) -> None:
    client = registry.setup()
    for source in ("demo", "tiny", "tiny"):
        _register(client, source)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    # the source by its config's name, or by --source
    done = runner.invoke(app, ["promote", "1", "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "lead-scoring-tiny@champion -> version 1"
    done = runner.invoke(app, ["promote", "latest", "--source", "tiny"])
    assert done.output.strip() == "lead-scoring-tiny@champion -> version 2 (previous: 1)"
    # without either: the demo, whose previous is never the other source's champion
    done = runner.invoke(app, ["promote", "latest"])
    assert done.output.strip() == "lead-scoring@champion -> version 1"
    assert _aliases(client, "demo") == ("1", None)
    refused = runner.invoke(app, ["rollback"])
    assert refused.exit_code == 2
    assert "nothing to roll back to: lead-scoring has no `previous` version" in refused.output
    done = runner.invoke(app, ["rollback", "-c", str(config)])
    assert done.output.strip() == "lead-scoring-tiny@champion -> version 1 (previous: 2)"
    assert _aliases(client, "demo") == ("1", None)
    # `models` lists every source's versions grouped by source, or one source's
    listing = runner.invoke(app, ["models"])
    assert listing.exit_code == 0, listing.output
    demo, tiny = listing.output.strip().split("\n\n")
    assert demo.startswith("source demo (lead-scoring):") and len(demo.splitlines()) == 3
    assert tiny.startswith("source tiny (lead-scoring-tiny):") and len(tiny.splitlines()) == 4
    assert "champion" in demo and "champion" in tiny and "previous" in tiny
    one = runner.invoke(app, ["models", "--source", "tiny"])
    assert one.output.strip() == tiny
    empty = runner.invoke(app, ["models", "--source", "maven-crm"])
    assert "source maven-crm (lead-scoring-maven-crm):\nno registered versions yet" in empty.output
    # a source that disagrees with the config, or that cannot name a model, stops the command
    both = runner.invoke(app, ["promote", "1", "--source", "demo", "-c", str(config)])
    assert both.exit_code == 2 and "disagree" in both.output
    bad = runner.invoke(app, ["models", "--source", "Maven CRM"])
    assert bad.exit_code == 2 and "cannot name a registered model" in bad.output
    assert _aliases(client, "tiny") == ("1", "2")
    # and --help says what happens without a source
    for command in ("models", "promote", "rollback", "export", "serve"):
        shown = runner.invoke(app, [command, "--help"], env=WIDE)
        assert "default: demo, whose model is lead-scoring" in shown.output, command


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
    expected = score_table(trained.registered, rows)
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
    experiment = client.get_experiment_by_name("lead-scoring").experiment_id
    run_1 = next(  # the training run, not one of its booster-search trials
        r for r in client.search_runs(experiment) if "mlflow.parentRunId" not in r.data.tags
    )
    again = runner.invoke(app, ["train", "--from-run", run_1.info.run_id])
    assert again.exit_code == 0, again.output
    runs = [
        r
        for r in client.search_runs(experiment, order_by=["start_time ASC"])
        if "mlflow.parentRunId" not in r.data.tags
    ]
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
    first = runner.invoke(app, [*args, "--trials", "20"])
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
    # and asking again resumes the same study: no new trials beyond the 20, a third version
    again = runner.invoke(app, [*args, "--trials", "20"])
    assert again.exit_code == 0, again.output
    assert f"threshold study {study}: 20 trials" in again.output


def test_trainings_of_two_sources_register_promote_and_export_apart(
    trained: TrainResult, mlflow_store: str, tmp_path: Path
) -> None:
    # given the demo and a second source trained in turns into one store
    copy = as_source(trained, "demo-copy")
    _, d1 = tracking.log_training(trained, {}, register=True)
    _, c1 = tracking.log_training(copy, {}, register=True)
    _, d2 = tracking.log_training(trained, {}, register=True)
    client = registry.setup()
    # then each is a version of its source's model, tagged with the source
    assert (d1, c1, d2) == ("1", "1", "2")
    assert client.get_model_version("lead-scoring-demo-copy", c1).tags["source"] == "demo-copy"
    assert client.get_model_version("lead-scoring", d2).tags["source"] == "demo"
    # when both sources promote and the demo rolls back, the other source's aliases stay
    registry.promote(client, d1)
    registry.promote(client, c1, source="demo-copy")
    registry.promote(client, d2)
    assert registry.rollback(client) == (d1, d2)
    assert _aliases(client, "demo-copy") == (c1, None)
    # and each source's champion is a model trained on that source
    for source in ("demo", "demo-copy"):
        version, folder = registry.load_champion(client, tmp_path / source, source=source)
        assert (version, registry.scorer_source(folder)) == ("1", source)
    # and an export is named for its source's model, says so, and no other source takes it
    done = runner.invoke(
        app, ["export", c1, "--source", "demo-copy", "--into", str(tmp_path / "models")]
    )
    assert done.exit_code == 0, done.output
    path = tmp_path / "models" / "lead-scoring-demo-copy-v1"
    assert f"exported lead-scoring-demo-copy version 1 to {path}" in done.output
    assert (path / "MLmodel").is_file()
    assert registry.export_meta(path) == {
        "registered_model": "lead-scoring-demo-copy",
        "version": "1",
    }
    assert registry.load_export(path, source="demo-copy")[0] == "1"
    with pytest.raises(ConfigError, match="trained on source 'demo-copy', not 'demo'"):
        registry.load_export(path, source="demo")


def test_a_challenger_is_another_version_of_the_same_source(mlflow_store: str, tmp_path) -> None:
    client = registry.setup()
    for source in ("demo", "demo", "demo", "tiny"):
        _register(client, source)
    _register(client, "maven-crm", name=registry.MODEL_NAME)  # an old store's crossed version 4
    registry.promote(client, "1")
    # a version of the source that is not its champion becomes its challenger
    done = runner.invoke(app, ["challenger", "2"])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "lead-scoring@challenger -> version 2 (champion: 1)"
    assert registry.challenger_of(client, "demo") == "2"
    assert registry.challenger_of(client, "tiny") is None
    # the champion itself, another source's version or a missing one are refused, and the
    # challenger stays as it was
    for version, message in [
        ("1", "lead-scoring version 1 is the champion: a challenger is another version"),
        ("4", "version 4 was trained on source 'maven-crm', not 'demo'"),
        ("9", "lead-scoring has no version 9"),
    ]:
        refused = runner.invoke(app, ["challenger", version])
        assert refused.exit_code != 0 and message in " ".join(refused.output.split()), version
    assert registry.challenger_of(client, "demo") == "2"
    done = runner.invoke(app, ["challenger", "3"])
    assert (
        done.output.strip()
        == "lead-scoring@challenger -> version 3 (champion: 1, replaces version 2)"
    )
    # `models` shows it next to the champion
    listing = registry.versions(client).set_index("version")["aliases"]
    assert (listing[1], listing[3]) == ("champion", "challenger")
    assert "challenger" in runner.invoke(app, ["models", "--source", "demo"]).output
    # another source's challenger is its own
    done = runner.invoke(app, ["challenger", "1", "--source", "tiny"])
    assert done.output.strip() == "lead-scoring-tiny@challenger -> version 1 (champion: none)"
    # --clear removes it; a version and --clear together, or neither, is a usage error
    done = runner.invoke(app, ["challenger", "--clear", "--source", "tiny"])
    assert done.output.strip() == "lead-scoring-tiny@challenger removed (was version 1)"
    assert registry.challenger_of(client, "tiny") is None
    again = runner.invoke(app, ["challenger", "--clear", "--source", "tiny"])
    assert again.output.strip() == "lead-scoring-tiny has no challenger"
    for args in (["challenger"], ["challenger", "2", "--clear"]):
        assert runner.invoke(app, args).exit_code == 2
    # a challenger promoted to champion is no longer a challenger; nor after a rollback to it
    registry.promote(client, "3")
    assert registry.challenger_of(client, "demo") is None
    assert registry.set_challenger(client, "1") is None
    assert registry.rollback(client) == ("1", "3")
    assert registry.challenger_of(client, "demo") is None
