"""The rescoring run itself: one run at a time (the lock), a real `leadscore rescore` process
killed with SIGKILL and resumed, a run failing for every lead stopped and resumed once fixed,
and its progress on and off a terminal."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from scoring.batch.lock import Holder, LockedError, acquire, release
from scoring.batch.progress import BarProgress, LogProgress, progress
from scoring.batch.rescore import Options, rescore
from scoring.batch.tables import create
from scoring.config import Config
from tests.conftest import REPO
from tests.scoring.batch.conftest import AS_OF, N_LEADS, _adds_up, _cfg, _run, _runs, _table, _url
from training.synthetic import World, write_world


def test_one_run_at_a_time_and_a_dead_holder_is_reclaimed(sqlite_engine: sa.Engine) -> None:
    tables = create(sqlite_engine)
    live = Holder("elsewhere", 1, "a")
    assert acquire(sqlite_engine, tables, live) is None
    with pytest.raises(LockedError, match="another rescoring run holds this database"):
        acquire(sqlite_engine, tables, Holder.me())
    # a holder on another host is reclaimed once its heartbeat is stale
    assert acquire(sqlite_engine, tables, Holder.me(), stale_after=timedelta(0)) == live.name
    # a holder on this host whose process is gone is reclaimed at once
    with sqlite_engine.begin() as conn:
        conn.execute(tables.lock.delete())
    proc = subprocess.Popen(["true"])
    proc.wait()
    gone = Holder(socket.gethostname(), proc.pid, "b")
    assert acquire(sqlite_engine, tables, gone) is None
    assert acquire(sqlite_engine, tables, Holder.me()) == gone.name
    # release frees it for the next run
    me = Holder.me()
    release(sqlite_engine, tables, Holder.me())  # not the holder: nothing happens
    with pytest.raises(LockedError):
        acquire(sqlite_engine, tables, me)


@pytest.fixture(scope="module")
def champion(demo_registry: dict[str, str]) -> dict[str, str]:
    """The trained demo model registered and promoted in the session's demo MLflow store: the
    environment and folder a `leadscore` process needs to find it, and the version."""
    return demo_registry


def test_a_killed_run_resumes_after_its_last_committed_chunk(
    db: sa.Engine, champion: dict[str, str], world: World
) -> None:
    chunk = 10  # 120 chunks: the run cannot finish between the poll and the kill
    env = os.environ | {"MLFLOW_TRACKING_URI": champion["uri"]}
    command = [
        str(Path(sys.executable).with_name("leadscore")),
        "rescore",
        "--config",
        str(REPO / "configs" / "demo.yaml"),
        "--db",
        _url(db),
        "--as-of",
        AS_OF.isoformat(),
        "--chunk-rows",
        str(chunk),
        "--workers",
        "2",
    ]
    # given a real `leadscore rescore` process (two workers) killed with SIGKILL mid-run
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
        cwd=champion["folder"],
    )
    deadline = time.monotonic() + 240
    while True:
        assert proc.poll() is None, "finished before it could be killed: " + str(proc.communicate())
        assert time.monotonic() < deadline, "no chunk committed in time"
        runs = _runs(db)
        if len(runs) and runs["chunks_done"].iloc[0] >= 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with contextlib.suppress(ProcessLookupError):  # its orphaned workers, as a crash would
        os.killpg(proc.pid, signal.SIGKILL)
    # then the database holds exactly the committed chunks: no partial chunk, no duplicate
    run = _runs(db).iloc[0]
    assert run["status"] == "running" and 3 <= run["chunks_done"] < N_LEADS // chunk
    committed = run["chunks_done"] * chunk
    ids = sorted(world.leads["lead_id"])
    assert sorted(_table(db, "lead_scores")["lead_id"]) == ids[:committed]
    history = _table(db, "lead_stage_history")
    assert sorted(history["lead_id"]) == ids[:committed]
    assert run["evaluated"] == run["written"] == run["new"] == run["leads"] == committed
    _adds_up(run)
    # when the command runs again it reclaims the lock and resumes the same run
    command[-1] = "1"  # any number of workers resumes it; one starts faster
    again = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=env, cwd=champion["folder"]
    )
    assert again.returncode == 0, again.stderr
    assert "reclaimed the lock of a crashed run" in again.stdout
    assert f"resumed run 1 after {run['chunks_done']} committed chunks" in again.stdout
    assert "rows/s" in again.stderr  # progress lines when not on a terminal
    assert "Downloading artifacts" not in again.stderr  # nor MLflow's terminal progress bar
    # and every lead is scored once, entered the history once, and the counts add up
    scores = _table(db, "lead_scores")
    assert sorted(scores["lead_id"]) == ids
    history = _table(db, "lead_stage_history")
    assert sorted(history["lead_id"]) == ids
    runs = _runs(db)
    assert len(runs) == 1
    final = runs.iloc[0]
    assert final["status"] == "completed" and final["resumed"] == 1
    assert final["chunks_done"] == N_LEADS // chunk
    assert final["evaluated"] == final["written"] == final["new"] == final["leads"] == N_LEADS
    _adds_up(final)
    assert f"leads      {N_LEADS:>12,}" in again.stdout
    assert set(scores["model_version"]) == {champion["version"]}
    assert not len(_table(db, "lead_score_lock"))  # released at the end


def test_progress_is_a_log_line_off_a_terminal_and_the_summary_adds_up(
    sqlite_engine: sa.Engine, world: World, demo_config: Config, scorer_dir: Path
) -> None:
    write_world(world, sqlite_engine)
    out = io.StringIO()
    options = Options(as_of=AS_OF, workers=1, chunk_rows=400, log_every=0.0)
    summary = rescore(
        _cfg(demo_config, sqlite_engine), sqlite_engine, scorer_dir, "7", options, out
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == N_LEADS // 400 + 1  # one per chunk (log_every=0), one at the end
    assert lines[-1].startswith(f"rescore: {N_LEADS:,}/{N_LEADS:,} leads (100%)")
    assert "rows/s" in lines[-1] and "ETA" in lines[-1]
    text = summary.to_text()
    assert "model version 7" in text and f"scored     {N_LEADS:>12,}" in text
    assert summary.counts["new"] == N_LEADS


def test_a_run_failing_for_every_lead_stops_and_resumes_once_fixed(
    sqlite_engine: sa.Engine, world: World, demo_config: Config, scorer_dir: Path, monkeypatch
) -> None:
    import scoring.batch.chunk as chunk

    write_world(world, sqlite_engine)
    cfg = _cfg(demo_config, sqlite_engine)
    real = chunk._scores
    monkeypatch.setattr(chunk, "_scores", lambda *a: (_ for _ in ()).throw(OSError("disk gone")))
    with pytest.raises(chunk.SystemicError, match="disk gone"):
        _run(cfg, sqlite_engine, scorer_dir)
    runs = _runs(sqlite_engine)
    assert list(runs["status"]) == ["failed"] and runs["chunks_done"].iloc[0] == 0
    assert not len(_table(sqlite_engine, "lead_score_lock"))  # released on the way out
    assert not len(_table(sqlite_engine, "lead_score_errors"))  # not a row's fault
    monkeypatch.setattr(chunk, "_scores", real)
    resumed = _run(cfg, sqlite_engine, scorer_dir)
    assert resumed.run.run_id == 1 and resumed.run.resumed_from == 1
    assert resumed.counts["evaluated"] == N_LEADS
    assert list(_runs(sqlite_engine)["status"]) == ["completed"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar_with_rate_and_eta() -> None:
    stream = _Terminal()
    bar = progress(1_000, stream)
    assert isinstance(bar, BarProgress)
    bar.advance(400)
    bar.close()
    text = stream.getvalue()
    assert "400/1000" in text and "rows/s" in text and "ETA" in text
    assert isinstance(progress(10, io.StringIO()), LogProgress)
