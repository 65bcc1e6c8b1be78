"""The `leadscore` command end to end: generate the demo CRM, summarise, featurise, import."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest
from typer.testing import CliRunner

from scoring.cli.main import app
from tests.conftest import REPO
from tests.training.pipeline.bank_world import bank_source
from training.thresholds.storage import database_url, study_storage

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{folder / 'leads.db'}"
    snapshot = folder / "snapshot.csv"
    result = runner.invoke(
        app,
        ["generate", "--leads", "3000", "--seed", "11", "--db", url, "--snapshot", str(snapshot)],
    )
    assert result.exit_code == 0, result.output
    assert "generated 3,000 leads" in result.output
    return url, snapshot


def test_summary_describes_the_demo_crm(demo_db) -> None:
    url, _ = demo_db
    result = runner.invoke(
        app, ["data", "summary", "-c", str(REPO / "configs/demo.yaml"), "--db", url]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "leads             3,000  valid 3,000  rejected 0" in out
    for needle in ("win rate (closed)", "won revenue", "funnel       leads 3,000 -> mql", "events"):
        assert needle in out
    assert "-> sal" in out and "-> sql" in out and "-> won" in out
    assert "join accounts: 0 of 3,000 keys" in out


def test_features_are_written_for_every_lead(demo_db, tmp_path: Path) -> None:
    url, _ = demo_db
    out = tmp_path / "features.parquet"
    result = runner.invoke(
        app,
        [
            "data",
            "features",
            "-c",
            str(REPO / "configs/demo.yaml"),
            "--db",
            url,
            "--as-of",
            "2025-06-30",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert len(frame) == 3000
    assert frame["events_90d"].sum() > 0


def test_snapshot_export_imports_and_featurises(demo_db, tmp_path: Path, monkeypatch) -> None:
    _, snapshot = demo_db
    monkeypatch.setenv("LEADSCORE_SNAPSHOT_CSV", str(snapshot))
    config = str(REPO / "configs/snapshot-demo.yaml")
    url = f"sqlite:///{tmp_path / 'snapshot.db'}"
    result = runner.invoke(app, ["data", "import", "-c", config, "--db", url])
    assert result.exit_code == 0, result.output
    assert "imported 3,000 rows into lead_export" in result.output
    result = runner.invoke(app, ["data", "summary", "-c", config, "--db", url])
    assert result.exit_code == 0, result.output
    assert "valid 3,000  rejected 0" in result.output
    out = tmp_path / "f.csv"
    result = runner.invoke(app, ["data", "features", "-c", config, "--db", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert frame["demo_requested"].isin([0.0, 1.0]).all()
    assert frame["last_activity_date_days_ago"].notna().mean() > 0.5


def test_config_errors_end_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "configs/demo.yaml").read_text().replace("half_life_days", "halflife"))
    result = runner.invoke(app, ["data", "summary", "-c", str(bad)])
    assert result.exit_code == 2
    assert f"error: invalid config\n  {bad}: events.halflife: unknown key" in result.output
    assert "Traceback" not in result.output


def test_train_from_an_unknown_run_names_it_in_one_line(mlflow_store: str) -> None:
    from scoring.model import registry

    registry.setup()  # MLflow says on stderr when it makes a store's tables
    result = runner.invoke(app, ["train", "--from-run", "0123abcd"])
    assert result.exit_code == 3, result.output
    assert result.output.strip() == (
        f"error: --from-run 0123abcd: no training run with a logged config.json in the MLflow "
        f"store at {mlflow_store} (`leadscore models` lists the runs of registered versions)"
    )


@pytest.mark.slow  # two trainings with a search
def test_train_resumes_the_booster_search_kept_in_the_mlflow_database(
    mlflow_store: str, tmp_path: Path
) -> None:
    bank_source(tmp_path)
    config = tmp_path / "bank.yaml"
    text = config.read_text()
    for trials in (2, 3):  # the rerun adds the one trial missing, not three
        config.write_text(text.replace("training:\n", f"training:\n  tune_trials: {trials}\n", 1))
        result = runner.invoke(app, ["train", "-c", str(config)])
        assert result.exit_code == 0, result.output
        storage = study_storage(database_url(mlflow_store))
        studies = {
            s.study_name.split("-")[1]: s.n_trials
            for s in optuna.get_all_study_summaries(storage)
            if s.study_name.startswith("boosters-")
        }
        assert studies == {"fit": trials, "intent": trials, "joint": trials}
