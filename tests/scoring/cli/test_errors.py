"""A failed `leadscore` command ends in one line naming the problem, with the exit code of its
class (scoring/cli/errors.py), never a traceback, never a password: registry lookups that find
nothing, databases and MLflow stores that cannot be reached, and a lead database that fails in
the middle of a real `leadscore rescore` (a SQLite file locked by another writer, PostgreSQL
connections killed by the server), after which a rerun resumes and completes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from scoring.batch.lock import Holder, acquire
from scoring.batch.tables import create
from scoring.cli.errors import BUSY, FAILED, NOT_FOUND, PIPE_CLOSED, UNAVAILABLE, USAGE
from scoring.cli.main import app
from scoring.model import registry
from tests.conftest import REPO
from training.pipeline.run import TrainResult
from training.synthetic import World, generate_world, write_world

runner = CliRunner()
DEMO = str(REPO / "configs" / "demo.yaml")
LEADSCORE = str(Path(sys.executable).with_name("leadscore"))
SECRET = "s3cret"
UNREACHABLE = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/test"  # nothing listens on 1


@pytest.fixture
def store(mlflow_store: str) -> str:
    """A fresh MLflow store, its tables made (MLflow logs that on stderr, once)."""
    registry.setup()
    return mlflow_store


def _one_line(result: Result, code: int, *names: str) -> str:
    """The output is one error line, with `code`, naming every one of `names`, no password."""
    out = result.output.strip()
    assert result.exit_code == code, out
    assert "Traceback" not in out and SECRET not in out
    assert len(out.splitlines()) == 1 and out.startswith("error: "), out
    for name in names:
        assert name in out, out
    return out


def test_registry_lookups_that_find_nothing_name_what_they_looked_for(
    store: str, tmp_path: Path
) -> None:
    missing = tmp_path / "models" / "lead-scoring-v99"
    _one_line(runner.invoke(app, ["promote", "99"]), NOT_FOUND, "lead-scoring has no version 99")
    _one_line(runner.invoke(app, ["export", "99", "--into", str(tmp_path)]), NOT_FOUND, "99")
    _one_line(runner.invoke(app, ["promote", "abc"]), USAGE, "'abc' is not a version number")
    _one_line(runner.invoke(app, ["rollback"]), USAGE, "nothing to roll back to")
    # serve: a --from path or registered version that does not exist, or no champion at all
    _one_line(runner.invoke(app, ["serve", "--from", str(missing)]), NOT_FOUND, str(missing))
    uri = "models:/lead-scoring/99"
    _one_line(runner.invoke(app, ["serve", "--from", uri]), NOT_FOUND, uri)
    uri = "models:/lead-scoring@staging"
    _one_line(runner.invoke(app, ["serve", "--from", uri]), NOT_FOUND, uri)
    _one_line(
        runner.invoke(app, ["serve"]),
        NOT_FOUND,
        f"no models:/lead-scoring@champion in the MLflow registry at {store}",
    )
    # rescore: no champion, or an export folder that does not exist
    db = f"sqlite:///{tmp_path / 'leads.db'}"
    _one_line(runner.invoke(app, ["rescore", "-c", DEMO, "--db", db]), NOT_FOUND, "@champion")
    found = runner.invoke(app, ["rescore", "-c", DEMO, "--db", db, "--model", str(missing)])
    _one_line(found, NOT_FOUND, f"--model: {missing} is not a folder")


def test_serve_from_a_missing_path_is_one_line_from_the_real_command(
    store: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-export"
    done = subprocess.run(
        [LEADSCORE, "serve", "--from", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"MLFLOW_TRACKING_URI": store},
    )
    assert done.returncode == NOT_FOUND, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"error: --from {missing}: no such folder (`leadscore export VERSION` makes one; or give "
        "an MLflow model URI such as models:/lead-scoring/3)"
    ]


@pytest.mark.parametrize(
    "command",
    [
        ["data", "summary"],
        ["data", "features", "--out", "features.csv"],
        ["train"],
    ],
)
def test_a_lead_database_that_cannot_be_used_is_named_without_its_password(
    command: list[str], mlflow_store: str
) -> None:
    _unusable_databases([*command, "-c", DEMO], "then rerun the command")


def _unusable_databases(args: list[str], then: str) -> None:
    """An unreachable server, an unknown scheme, a URL that does not parse: one line each."""
    refused = runner.invoke(app, [*args, "--db", UNREACHABLE])
    shown = "database postgresql+psycopg://postgres:***@127.0.0.1:1/test"
    _one_line(refused, UNAVAILABLE, f"cannot use {shown}", "Connection refused", then)
    scheme = runner.invoke(app, [*args, "--db", "foo://x"])
    _one_line(scheme, USAGE, "unknown database URL scheme 'foo'")
    _one_line(runner.invoke(app, [*args, "--db", "not a url"]), USAGE, "bad database URL")


@pytest.mark.parametrize(
    "command",
    [
        ["data", "summary"],
        ["train"],
        ["report", "funnel"],
        ["sla"],
    ],
)
def test_a_mistyped_sqlite_path_is_named_and_not_created(
    command: list[str], mlflow_store: str, tmp_path: Path
) -> None:
    typo = tmp_path / "dta" / "leads.db"
    done = runner.invoke(app, [*command, "-c", DEMO, "--db", f"sqlite:///{typo}"])
    _one_line(done, USAGE, "names no SQLite file", str(typo), "leadscore data import")
    assert not typo.parent.exists()


def test_an_mlflow_store_that_cannot_be_reached_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://admin:{SECRET}@127.0.0.1:1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    for args in (["promote", "3"], ["models"], ["serve"]):
        _one_line(
            runner.invoke(app, args),
            UNAVAILABLE,
            "cannot reach the MLflow store at http://admin:***@127.0.0.1:1",
            "Connection refused",
        )


@pytest.mark.parametrize("debug", ["--debug", "LEADSCORE_DEBUG"])
def test_debug_adds_the_traceback_and_keeps_the_exit_code(
    debug: str, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if debug == "LEADSCORE_DEBUG":
        monkeypatch.setenv(debug, "1")
    done = runner.invoke(app, [debug, "promote", "99"] if debug == "--debug" else ["promote", "99"])
    assert done.exit_code == NOT_FOUND
    assert "Traceback" in done.output and "NotFoundError" in done.output
    assert done.output.strip().splitlines()[-1].startswith("error: lead-scoring has no version")


def test_an_unexpected_error_is_one_line_that_points_at_debug(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bugs = {  # a KeyError is a bug like any other, not a usage error
        "unexpected ZeroDivisionError: division by zero": lambda client: 1 / 0,
        "unexpected KeyError: 'lead_id'": lambda client: {}["lead_id"],
    }
    for message, bug in bugs.items():
        monkeypatch.setattr(registry, "sources", bug)
        _one_line(runner.invoke(app, ["models"]), FAILED, message, "--debug")


def test_a_reader_that_stops_reading_ends_the_command_quietly(store: str) -> None:
    # given `leadscore models | head` once head has exited: nobody reads the pipe any more
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [LEADSCORE, "models"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=os.environ | {"MLFLOW_TRACKING_URI": store},
        )
    finally:
        os.close(write)
    # then it exits as a program a closed pipe ends does in a shell (128 + SIGPIPE), silently
    assert done.returncode == PIPE_CLOSED == 141, done.stderr
    assert "error" not in done.stderr.lower() and "pipe" not in done.stderr.lower(), done.stderr


QUOTED_URLS = {  # as an error quotes it: as the line shows it
    f"postgresql://u:pa/{SECRET}@host/db": "postgresql://u:***@host/db",
    f"postgresql://u:pa {SECRET}@host/db": "postgresql://u:***@host/db",
    f"postgresql://u:p@{SECRET}@h/db": "postgresql://u:***@h/db",
    f"http://h:5000/api?token={SECRET}&x=1": "http://h:5000/api?token=***&x=1",
    f"http://h/x?api_key={SECRET}": "http://h/x?api_key=***",
    f"host=h password={SECRET} dbname=x": "host=h password=*** dbname=x",
    "sqlite:////tmp/leads.db": "sqlite:////tmp/leads.db",
}


def test_an_error_line_quotes_urls_without_their_secrets(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for quoted, shown in QUOTED_URLS.items():

        def failing(client: object, quoted: str = quoted) -> None:
            raise RuntimeError(f"could not use {quoted}, then gave up")

        monkeypatch.setattr(registry, "sources", failing)
        found = runner.invoke(app, ["models"])
        _one_line(found, FAILED, f"could not use {shown}, then gave up")


# ---------------------------------------------------------------- a database failing mid-run

N_LEADS, CHUNK = 4_000, 40


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(N_LEADS, seed=3)


@pytest.fixture(scope="module")
def export(trained: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained demo model as a local export, so rescoring needs no MLflow store."""
    folder = tmp_path_factory.mktemp("export") / "lead-scoring-v1"
    trained.scorer.save(folder / "scorer")
    return folder


def _rescore(url: str, export: Path) -> list[str]:
    return [
        *(LEADSCORE, "rescore", "-c", DEMO, "--db", url, "--model", str(export)),
        *("--as-of", "2025-11-01", "--chunk-rows", str(CHUNK), "--workers", "1"),
    ]


def _chunks_done(engine: sa.Engine) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text("SELECT max(chunks_done) FROM lead_score_runs")) or 0)
    except sa.exc.DBAPIError:  # not created yet, or the file is busy
        return 0


@contextmanager
def _locked(engine: sa.Engine) -> Iterator[None]:
    """Another writer holding the SQLite file: readers and writers wait, then give up."""
    conn = sqlite3.connect(engine.url.database, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@contextmanager
def _killed(engine: sa.Engine) -> Iterator[None]:
    """Every other connection to the PostgreSQL database terminated by the server."""
    with engine.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    yield


def test_a_database_failing_mid_rescore_ends_in_one_line_and_a_rerun_completes(
    any_engine: sa.Engine, world: World, export: Path
) -> None:
    write_world(world, any_engine)
    sqlite = any_engine.dialect.name == "sqlite"
    url = any_engine.url.set(password=None if sqlite else SECRET)  # trust auth takes any password
    command = _rescore(url.render_as_string(hide_password=False), export)
    # given a real run that has committed chunks when its database fails under it
    env = os.environ | {"LEADSCORE_SQLITE_BUSY_SECONDS": "5"}  # not 120 s for the lock
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    while _chunks_done(any_engine) < 3:
        assert proc.poll() is None, "ended before its database failed: " + proc.communicate()[1]
        time.sleep(0.02)
    with _locked(any_engine) if sqlite else _killed(any_engine):
        assert proc.poll() is None, "finished before its database failed"
        out, err = proc.communicate(timeout=300)
    # then it ends with one line that names the database (not its password) and what to do
    assert proc.returncode == UNAVAILABLE, err
    assert "Traceback" not in err and SECRET not in err + out
    errors = [line for line in err.splitlines() if not line.startswith("rescore: ")]  # progress
    shown = url.render_as_string(hide_password=True)
    what = f"database {shown} is locked" if sqlite else f"lost the connection to database {shown}"
    assert len(errors) == 1 and errors[0].startswith(f"error: {what}"), err
    assert errors[0].endswith(
        "rerun `leadscore rescore`: it resumes after the last committed chunk"
    )
    # and the rerun resumes that run and scores every lead once
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resumed run 1 after" in again.stdout
    with any_engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT status FROM lead_score_runs")).scalars().all()
        scored = conn.scalar(sa.text("SELECT count(DISTINCT lead_id) FROM lead_scores"))
        rows = conn.scalar(sa.text("SELECT count(*) FROM lead_scores"))
    assert runs == ["completed"] and scored == rows == N_LEADS


def test_rescore_on_a_database_that_cannot_be_used(export: Path) -> None:
    args = ["rescore", "-c", DEMO, "--model", str(export)]
    _unusable_databases(
        args, "rerun `leadscore rescore`: it resumes after the last committed chunk"
    )


def test_a_second_rescore_while_one_runs_is_busy(
    sqlite_engine: sa.Engine, world: World, export: Path
) -> None:
    write_world(world, sqlite_engine)
    acquire(sqlite_engine, create(sqlite_engine), Holder("elsewhere", 1, "a"))
    url = sqlite_engine.url.render_as_string(hide_password=False)
    done = runner.invoke(app, _rescore(url, export)[1:])
    _one_line(done, BUSY, "another rescoring run holds this database: elsewhere:1:a")
