"""Rescoring on Spark in local mode (PySpark from PyPI, Java 17, JDBC drivers from Debian's
packages): a demo database scored by both engines at the same point in time, column for
column; PostgreSQL read in parallel over JDBC; Parquet in and out; `--since`; and a real
`spark-submit` of the documented recipe (the small CRM `world` is conftest.py's). One Spark
session for the file (`make test` runs a file's tests on one worker)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.batch import Options, Summary, rescore
from scoring.batch.spark.job import SparkOptions, execute
from scoring.cli.errors import USAGE
from scoring.cli.main import app
from scoring.config import Config
from tests.conftest import REPO
from training.pipeline.run import TrainResult
from training.synthetic import World, generate_world, write_world

pytestmark = pytest.mark.spark

AS_OF = datetime(2025, 11, 1)
LATER = datetime(2025, 11, 4)
DEMO = str(REPO / "configs" / "demo.yaml")
runner = CliRunner()


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from scoring.batch.spark.session import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def export(trained: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained demo model as a local export (`--model`)."""
    folder = tmp_path_factory.mktemp("export") / "lead-scoring-v1"
    trained.scorer.save(folder / "scorer")
    return folder


def _sqlite(source: str | World, path: Path) -> str:
    """A SQLite lead database at `path`: a copy of the database file `source`, or a world."""
    if isinstance(source, str):
        shutil.copy(sa.engine.make_url(source).database, path)
    else:
        write_world(source, sa.create_engine(f"sqlite:///{path}"))
    return f"sqlite:///{path}"


def _run(
    cfg: Config, url: str, scorer: Path, spark: object | None = None, since=None, **options
) -> Summary:
    engine = sa.create_engine(url)
    job = None if spark is None else execute(spark, SparkOptions(url, since))
    try:
        return rescore(
            cfg.with_database(url),
            engine,
            scorer,
            "1",
            Options(**({"as_of": AS_OF, "workers": 1} | options)),
            stream=io.StringIO(),
            execute=job,
        )
    finally:
        engine.dispose()


def _tables(url: str) -> dict[str, pd.DataFrame]:
    """lead_scores, lead_stage_history and lead_score_errors, in a stable order, without the
    tables' own row ids."""
    engine = sa.create_engine(url)
    out = {}
    with engine.connect() as conn:
        for name, order in (
            ("lead_scores", ["lead_id"]),
            ("lead_stage_history", ["lead_id", "run_id", "to_stage"]),
            ("lead_score_errors", ["lead_id", "step", "fields", "reason", "row"]),
        ):
            frame = pd.read_sql(sa.text(f"SELECT * FROM {name}"), conn)
            frame = frame.drop(columns=[c for c in ("id",) if c in frame.columns])
            out[name] = frame.sort_values(order, na_position="first").reset_index(drop=True)
    engine.dispose()
    return out


def _same_tables(a: str, b: str) -> None:
    left, right = _tables(a), _tables(b)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


def _edit(url: str, when: datetime = datetime(2025, 11, 2, 10)) -> None:
    """The same changes to a lead database: a field edited, a new hand-raise, a deleted lead, a
    bad value in a joined table (its leads fail validation), a new lead."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(sa.text("SELECT lead_id FROM leads ORDER BY lead_id"))]
        conn.execute(sa.text("UPDATE leads SET title = 'CEO' WHERE lead_id = :i"), {"i": ids[4]})
        conn.execute(
            sa.text(
                "INSERT INTO activities (event_id, lead_id, event_type, occurred_at) "
                "VALUES (99999999, :i, 'demo_request', :t)"
            ),
            {"i": ids[9], "t": f"{when:%Y-%m-%d %H:%M:%S}"},
        )
        conn.execute(sa.text("DELETE FROM leads WHERE lead_id = :i"), {"i": ids[14]})
        conn.execute(
            sa.text(
                "UPDATE accounts SET employees = 'many' WHERE account_id = "
                "(SELECT account_id FROM leads WHERE lead_id = :i)"
            ),
            {"i": ids[19]},
        )
        conn.execute(
            sa.text(
                "INSERT INTO leads (lead_id, account_id, title, lead_source, created_at) "
                "SELECT 'NEW-1', account_id, 'VP Sales', 'webinar', :t "
                "FROM leads WHERE lead_id = :i"
            ),
            {"i": ids[0], "t": f"{when + timedelta(hours=1):%Y-%m-%d %H:%M:%S}"},
        )
    engine.dispose()


def test_spark_rescores_a_demo_database_as_the_local_engine_does(
    spark: object, trained: TrainResult, demo_config: Config, tmp_path: Path
) -> None:
    """5,000 demo leads in chunks of 1,250: four chunks for the local engine, four buckets on
    Spark (the demo's own 20,000 leads are one chunk and two buckets at the default size)."""
    scorer = tmp_path / "scorer"
    trained.scorer.save(scorer)
    demo = _sqlite(generate_world(5_000, seed=7), tmp_path / "demo.db")
    local, on_spark = (_sqlite(demo, tmp_path / f"{n}.db") for n in ("local", "spark"))
    chunks = {"chunk_rows": 1_250}
    first = (_run(demo_config, local, scorer, explain=True, **chunks),)
    first += (_run(demo_config, on_spark, scorer, spark, explain=True, **chunks),)
    assert first[0].counts == first[1].counts
    assert first[1].counts["written"] == first[1].leads == 5_000
    # every column: scores, stage, grade, reasons, input hash, re-check time, run
    _same_tables(local, on_spark)
    scores = _tables(on_spark)["lead_scores"]
    assert scores["reasons"].notna().all() and scores["input_hash"].notna().all()
    # the same changes, then an incremental run of each engine, later: the same leads are due
    for url in (local, on_spark):
        _edit(url)
    again = [_run(demo_config, local, scorer, as_of=LATER, **chunks)]
    again.append(_run(demo_config, on_spark, scorer, spark, as_of=LATER, **chunks))
    assert again[0].run.mode == again[1].run.mode == "incremental"
    assert again[0].counts == again[1].counts
    counts = again[1].counts
    assert counts["skipped"] > 3_750 and counts["new"] == 1 and counts["deleted"] == 1
    assert counts["failed"] >= 1 and counts["errors"] >= 1
    _same_tables(local, on_spark)


def test_postgresql_is_read_in_parallel_over_jdbc_with_the_same_rows(
    spark: object,
    postgres_engine: sa.Engine,
    world: World,
    demo_config: Config,
    export: Path,
) -> None:
    url = postgres_engine.url.render_as_string(hide_password=False)
    write_world(world, postgres_engine)
    scorer = export / "scorer"
    local = _run(demo_config, url, scorer)
    assert local.counts["written"] == 1_200
    # a full Spark run after the local one finds every row exactly as it would write it
    full = _run(demo_config, url, scorer, spark, full=True)
    assert full.counts["evaluated"] == full.counts["unchanged"] == 1_200, full.counts
    assert full.counts["written"] == 0
    from scoring.batch.spark.source import read_frames

    frames = read_frames(spark, demo_config, url)
    assert frames.leads.rdd.getNumPartitions() == spark.sparkContext.defaultParallelism == 2


def _parquet(world: World, folder: Path) -> Path:
    """The world's tables as a lakehouse export: typed Parquet, one file per table."""
    folder.mkdir()
    for name in ("leads", "accounts", "activities"):
        getattr(world, name).to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def test_parquet_in_and_out_gives_the_local_engines_numbers(
    spark: object, world: World, demo_config: Config, export: Path, tmp_path: Path
) -> None:
    url = _sqlite(world, tmp_path / "local.db")
    _run(demo_config, url, export / "scorer")
    local = _tables(url)["lead_scores"].set_index("lead_id")
    local["next_check_at"] = pd.to_datetime(local["next_check_at"])  # SQLite holds text
    lake = _parquet(world, tmp_path / "lake")
    out = tmp_path / "out"
    args = ["rescore", "-c", DEMO, "--model", str(export), "--engine", "spark"]
    args += ["--input", str(lake), "--output", str(out), "--as-of", "2025-11-01", "--explain"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "1,200 leads" in done.output
    scores = pd.read_parquet(out / "scores").set_index("lead_id").sort_index()
    assert len(scores) == 1_200 and scores["reasons"].notna().all()
    numbers = ["fit_score", "intent_score", "win_probability", "expected_revenue", "stage"]
    numbers += ["grade", "next_check_at"]
    pd.testing.assert_frame_equal(
        scores[numbers], local.loc[scores.index, numbers], check_dtype=False
    )
    assert pd.read_parquet(out / "errors").empty
    # a missing table is named, and nothing is written
    (lake / "accounts.parquet").unlink()
    missing = runner.invoke(app, [*args[:7], "--input", str(lake), "--output", str(out / "x")])
    assert missing.exit_code == USAGE, missing.output
    assert "leads.joins[0].table" in missing.output and "accounts" in missing.output
    assert not (out / "x").exists()
    no_delta = runner.invoke(app, [*args, "--output-format", "delta"])
    assert no_delta.exit_code == USAGE and "no Delta Lake" in no_delta.output


def test_since_reads_the_leads_with_a_new_date_or_event_only(
    spark: object, world: World, demo_config: Config, export: Path, tmp_path: Path
) -> None:
    scorer = export / "scorer"
    local, on_spark = (_sqlite(world, tmp_path / f"{n}.db") for n in ("local", "spark"))
    since = world.exported_at.to_pydatetime()  # nothing in the world happens after it
    later = since + timedelta(days=2)
    for url in (local, on_spark):
        _run(demo_config, url, scorer, as_of=since)
        _edit(url, since + timedelta(days=1))
    picked = _run(demo_config, on_spark, scorer, spark, since=since, as_of=later)
    # the lead with the new hand-raise and the new lead; not the edited title (no new date)
    assert picked.leads == 2 and picked.counts["written"] == 2, picked.counts
    assert picked.counts["deleted"] == 0  # not checked: only the changed leads were read
    _run(demo_config, local, scorer, as_of=later)
    both = [_tables(u)["lead_scores"].set_index("lead_id") for u in (local, on_spark)]
    written = both[1].index[both[1]["run_id"] == 2]
    assert len(written) == 2 and "NEW-1" in written
    assert both[0].loc[written, "deleted_at"].isna().all()
    assert both[1].loc[written, "deleted_at"].isna().all()
    same = [c for c in both[0].columns if c not in ("run_id", "deleted_at")]
    pd.testing.assert_frame_equal(both[1].loc[written, same], both[0].loc[written, same])


def test_spark_submit_runs_the_documented_recipe(
    world: World, export: Path, tmp_path: Path
) -> None:
    url = _sqlite(world, tmp_path / "leads.db")
    submit = Path(sys.executable).parent / "spark-submit"
    jars = "/usr/share/java/sqlite-jdbc.jar,/usr/share/java/postgresql.jar"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK")}
    env["PYSPARK_PYTHON"] = sys.executable
    done = subprocess.run(
        [
            *(str(submit), "--master", "local[2]", "--jars", jars),
            str(REPO / "scoring" / "cli" / "spark_submit.py"),
            *("-c", DEMO, "--db", url, "--model", str(export), "--as-of", "2025-11-01"),
            "--no-monitor",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "engine: spark (local[2])" in done.stdout
    assert "written         1,200" in done.stdout
