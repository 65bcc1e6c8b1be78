"""No credential leaves the process: a database password given with --db, or through a `${VAR}`
in the config, is in no run, model, export, BentoML model or command output (issue 15)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.cli.main import app
from scoring.config import Config, ConfigError, hide_url, load_config
from scoring.model import registry
from tests.conftest import TINY_CONFIG
from tests.fixtures.exports import CRM_FEATURES, write_zero_one

runner = CliRunner()
PASSWORD = "S3cr3t-Pw"
SECRET_VAR = "LEADSCORE_TEST_SECRET_DB"
NOISE_FEATURES = "features:\n  fit:\n    - {column: noise, kind: numeric}\n"


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, str]:
    """The export (with a column of noise) and its config's source and leads sections, apart
    from everything a command writes."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    path, text = write_zero_one(folder)
    frame = pd.read_csv(path)
    frame["noise"] = np.random.default_rng(0).normal(size=len(frame))  # no signal: gate refuses
    frame.to_csv(path, index=False)
    return folder, text.split("features:")[0]


def _write_source(inputs: tuple[Path, str], name: str, database: str, features: str) -> Path:
    folder, head = inputs
    text = head.replace("name: zero-one", f"name: {name}")
    text = text.replace(f"database: sqlite:///{folder / 'leads.db'}", f"database: {database}")
    path = folder / f"{name}.yaml"
    path.write_text(text + features)
    return path


class Session:
    """Commands run in-process, everything they print kept (CLI output, logs, the process's own
    stdout and stderr)."""

    def __init__(self, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):
        self.capfd, self.caplog, self.printed = capfd, caplog, []

    def run(self, *args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        self.printed.append(result.output)
        assert result.exit_code == code, result.output + repr(result.exception)
        return result.output

    def everything_printed(self) -> str:
        return "\n".join(self.printed) + self.capfd.readouterr().out + self.caplog.text


def _files_holding(root: Path, secret: bytes) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and secret in p.read_bytes())


def _import_into_bentoml(models: Path, source: str) -> None:
    """What `leadscore serve` does before starting BentoML: the champion into the model store."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    from scoring.serving.store import import_champion

    with BentoMLContainer.model_store.patch(ModelStore(models)):
        import_champion(source)


@pytest.mark.slow  # two trainings, an export, a rescore and a BentoML import: about 30 s
def test_no_password_in_runs_models_exports_or_output(
    inputs: tuple[Path, str],
    postgres_engine: sa.Engine,
    mlflow_store: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    secret_url = postgres_engine.url.set(password=PASSWORD).render_as_string(hide_password=False)
    monkeypatch.setenv(SECRET_VAR, secret_url)  # trust auth: any password connects
    # given a model trained with the password on the command line (the gate registers it)
    signal = _write_source(inputs, "signal", "sqlite:///unused.db", CRM_FEATURES)
    # and a run of a config whose database is a ${VAR} holding the password, with the password in
    # its default too (the gate refuses)
    noise_db = f"${{{SECRET_VAR}:-{secret_url}}}"
    noise = _write_source(inputs, "noise", f'"{noise_db}"', NOISE_FEATURES)
    cli = Session(capfd, caplog)
    cli.run("data", "import", "-c", str(signal), "--db", secret_url)
    cli.run("data", "summary", "-c", str(noise))
    assert "registered lead-scoring-signal version 1" in cli.run(
        "train", "-c", str(signal), "--db", secret_url
    )
    refused = cli.run("train", "-c", str(noise))
    assert "registered lead-scoring-noise" not in refused
    # when it is promoted, exported, rescored with and imported into the BentoML store
    cli.run("promote", "1", "--source", "signal")
    cli.run("export", "1", "--source", "signal", "--into", str(tmp_path / "exports"))
    cli.run("rescore", "-c", str(signal), "--db", secret_url, "--workers", "1")
    _import_into_bentoml(tmp_path / "bentoml", "signal")
    # then the password is in no file of the MLflow store, the export or the BentoML store
    written = _files_holding(tmp_path, PASSWORD.encode())
    assert written == [str(noise)], "the password was written"  # only in the config given
    assert (tmp_path / "bentoml" / "lead-scoring-signal").is_dir()
    # nor in anything a command printed or logged (the summary names the database without it)
    printed = cli.everything_printed()
    assert PASSWORD not in printed and f"postgres:***@{postgres_engine.url.host}" in printed
    # and the stored configs keep a hint: the URL without its password, the ${VAR} as written
    client = registry.setup()
    runs = {
        r.data.tags["source"]: r
        for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
        if "mlflow.parentRunId" not in r.data.tags  # training runs, not their search trials
    }
    assert (
        runs["signal"].data.tags["gate"] == "passed"
        and runs["noise"].data.tags["gate"] == "refused"
    )
    signal_cfg = registry.logged_config(client, runs["signal"].info.run_id)
    noise_cfg = registry.logged_config(client, runs["noise"].info.run_id)
    assert signal_cfg.source.database == hide_url(secret_url)
    assert noise_cfg.source.database == f"${{{SECRET_VAR}:-{hide_url(secret_url)}}}"
    assert noise_cfg.with_database(None).source.database == secret_url  # from the environment
    # and a re-run of the run whose password was given on the command line asks for it again
    again = cli.run("train", "--from-run", runs["signal"].info.run_id, code=2)
    assert "pass --db" in again and PASSWORD not in again


def _tiny(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CONFIG.replace('source: {database: "sqlite:///unused.db"}', source))
    return path


def test_stored_config_keeps_env_references_and_hides_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+psycopg://app:{PASSWORD}@db.internal:5432/crm"
    monkeypatch.setenv(SECRET_VAR, url)
    monkeypatch.setenv("LEADSCORE_TEST_DATA", str(tmp_path))
    # a flow mapping, where `${` cannot start a plain YAML value
    cfg = load_config(
        _tiny(
            tmp_path,
            f"source: {{database: ${{{SECRET_VAR}}}, files: "
            "{leads: ${LEADSCORE_TEST_DATA}/leads.csv, accounts: accounts.csv}}",
        )
    )
    assert cfg.source.database == url  # what the process connects with
    stored = cfg.stored()
    assert PASSWORD not in json.dumps(stored) and str(tmp_path) not in json.dumps(
        stored["source"]["files"]["leads"]
    )
    assert stored["source"]["database"] == f"${{{SECRET_VAR}}}"
    assert stored["source"]["files"]["leads"]["path"] == "${LEADSCORE_TEST_DATA}/leads.csv"
    assert stored["source"]["files"]["accounts"]["path"] == str(tmp_path / "accounts.csv")
    # a stored config loads back, and finds its database in the environment again
    back = Config.model_validate(stored)
    assert back.with_database(None).source.database == url
    assert back.with_database(None).stored() == stored
    monkeypatch.delenv(SECRET_VAR)
    with pytest.raises(ConfigError, match=f"{SECRET_VAR} is not set.*pass --db"):
        back.with_database(None)
    # --db replaces the reference; its password is hidden, and a reload asks for it
    given = cfg.with_database(url + "?sslmode=require&sslpassword=k3y")
    hidden = given.stored()["source"]["database"]
    assert (
        hidden
        == "postgresql+psycopg://app:***@db.internal:5432/crm?sslmode=require&sslpassword=***"
    )
    with pytest.raises(ConfigError, match=r"source.database: .*:\*\*\*@db.internal.* pass --db"):
        Config.model_validate(given.stored()).with_database(None)
    assert (
        Config.model_validate(given.stored()).with_database("sqlite:///x.db").source.database
        == "sqlite:///x.db"
    )


def test_stored_config_keeps_a_password_reference_and_hides_written_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADSCORE_TEST_PW", PASSWORD)
    monkeypatch.delenv("LEADSCORE_TEST_UNSET_DB", raising=False)
    # a password given as a ${VAR} is stored as that reference, and found there again on reload
    referenced = "postgresql+psycopg://app:${LEADSCORE_TEST_PW}@db.internal/crm"
    cfg = load_config(_tiny(tmp_path, f'source: {{database: "{referenced}"}}'))
    assert cfg.source.database == referenced.replace("${LEADSCORE_TEST_PW}", PASSWORD)
    assert cfg.stored()["source"]["database"] == referenced
    assert Config.model_validate(cfg.stored()).with_database(None).source.database == (
        cfg.source.database
    )
    # a password written in a ${VAR:-default} is not stored; a reload without the variable
    # asks for the URL
    written = f"${{LEADSCORE_TEST_UNSET_DB:-postgresql+psycopg://app:{PASSWORD}@db.internal/crm}}"
    cfg = load_config(_tiny(tmp_path, f'source: {{database: "{written}"}}'))
    stored = cfg.stored()["source"]["database"]
    assert PASSWORD not in stored
    assert stored == "${LEADSCORE_TEST_UNSET_DB:-postgresql+psycopg://app:***@db.internal/crm}"
    with pytest.raises(ConfigError, match=r"LEADSCORE_TEST_UNSET_DB.*without its password.*--db"):
        Config.model_validate(cfg.stored()).with_database(None)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:////data/leads.db", "sqlite:////data/leads.db"),
        ("postgresql+psycopg://u:p%40ss@h/db", "postgresql+psycopg://u:***@h/db"),
        ("postgresql+psycopg://u:p@ss@h:5432/db", "postgresql+psycopg://u:***@h:5432/db"),
        ("mysql://u@h/db?password=pw&charset=utf8", "mysql://u@h/db?charset=utf8&password=***"),
        ("http://u:pw@mlflow:5000", "http://u:***@mlflow:5000"),
        ("${LEADSCORE_DB:-sqlite:///data/leads.db}", "${LEADSCORE_DB:-sqlite:///data/leads.db}"),
        ("${LEADSCORE_DB:-postgresql://u:pw@h/db}", "${LEADSCORE_DB:-postgresql://u:***@h/db}"),
        ("postgresql://app:${PGPW}@db/leads", "postgresql://app:${PGPW}@db/leads"),
        ("postgresql://app:${PGPW:-pw}@db/leads", "postgresql://app:${PGPW:-***}@db/leads"),
        ("postgresql://app:pw${PGPW}@db/leads", "postgresql://app:***@db/leads"),
        ("postgresql://${PGUSER}:${PGPW}@${PGHOST:-h}:${PGPORT}/db", None),
    ],
)
def test_urls_are_shown_without_their_secrets(url: str, shown: str | None) -> None:
    assert hide_url(url) == (url if shown is None else shown)
