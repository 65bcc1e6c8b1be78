"""Batch shadow scoring with a challenger, on SQLite and the real PostgreSQL server: the champion's
tables are the same with and without it, its rows are what it gives when it rescores alone, and
nothing it does wrong fails the champion's run."""

from __future__ import annotations

import dataclasses
import io
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.batch import Challenger, Options, Summary, rescore
from scoring.batch.tables import define as rescoring_tables
from scoring.cli.main import app
from scoring.config import Config
from scoring.data.load import load_events, load_leads
from scoring.features import build_features
from scoring.model import registry
from scoring.model.scorer import LeadScorer
from scoring.model.shadow import SHADOW
from tests.conftest import REPO
from training import tracking
from training.pipeline.run import TrainResult
from training.synthetic import World, generate_world, write_world

runner = CliRunner()
N_LEADS = 900
AS_OF = datetime(2025, 11, 1)
SCORES = ["fit_score", "intent_score", "win_probability", "expected_revenue", "stage", "grade"]


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(N_LEADS, seed=11)


def _with_cutoffs(scorer: LeadScorer, world: World, folder: Path, mql: float, sql: float) -> Path:
    """`scorer` saved with cut-offs at these quantiles of its expected revenue on `world`, so
    stages differ between models."""
    engine = sa.create_engine(f"sqlite:///{folder.parent / (folder.name + '.db')}")
    write_world(world, engine)
    cfg = scorer.config
    leads, _ = load_leads(cfg, engine)
    events, _ = load_events(cfg, engine)
    revenue = scorer.score(build_features(cfg, leads.inputs, events, AS_OF))["expected_revenue"]
    cut = dataclasses.replace(
        scorer.thresholds, mql=float(revenue.quantile(mql)), sql=float(revenue.quantile(sql))
    )
    scorer.with_thresholds(cut).save(folder)
    engine.dispose()
    return folder


@pytest.fixture(scope="module")
def models(
    trained: TrainResult, world: World, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """(champion, challenger): the registered (refitted) model and the evaluated one, two
    different sets of boosters, with different cut-offs."""
    assert trained.refitted is not None
    root = tmp_path_factory.mktemp("shadow-models")
    champion = _with_cutoffs(trained.registered, world, root / "champion", 0.8, 0.95)
    challenger = _with_cutoffs(trained.scorer, world, root / "challenger", 0.7, 0.9)
    return champion, challenger


def _run(cfg: Config, engine: sa.Engine, folder: Path, version: str, **options) -> Summary:
    challenger = options.pop("challenger", None)
    options = {"as_of": AS_OF, "workers": 1, "chunk_rows": 250} | options
    return rescore(cfg, engine, folder, version, Options(**options), io.StringIO(), challenger)


def _table(engine: sa.Engine, name: str, order: list[str]) -> pd.DataFrame:
    with engine.connect() as conn:
        table = sa.Table(name, sa.MetaData(), autoload_with=conn)
        return pd.read_sql(sa.select(table), conn).sort_values(order).reset_index(drop=True)


def _drop_rescoring_tables(engine: sa.Engine) -> None:
    rescoring_tables().metadata.drop_all(engine)


def _status(engine: sa.Engine, summary: Summary) -> str:
    runs = rescoring_tables().runs
    with engine.connect() as conn:
        return conn.scalar(sa.select(runs.c.status).where(runs.c.run_id == summary.run.run_id))


def _cfg(demo_config: Config, engine: sa.Engine) -> Config:
    return demo_config.with_database(engine.url.render_as_string(hide_password=False))


def test_the_challenger_scores_in_shadow_and_never_touches_the_champions_tables(
    db: sa.Engine, demo_config: Config, models: tuple[Path, Path]
) -> None:
    champion, challenger_dir = models
    cfg = _cfg(demo_config, db)
    challenger = Challenger("2", "lead-scoring v2", challenger_dir)
    # given the champion's tables after a run without a challenger
    alone = _run(cfg, db, champion, "1")
    assert alone.shadow is None and "shadow" not in alone.to_text()
    scores = _table(db, "lead_scores", ["lead_id"])
    history = _table(db, "lead_stage_history", ["id"])
    # when the same run is made again from scratch, with a challenger
    _drop_rescoring_tables(db)
    shadowed = _run(cfg, db, champion, "1", challenger=challenger)
    # then the champion's rows, stage history and counters are exactly the same
    pd.testing.assert_frame_equal(_table(db, "lead_scores", ["lead_id"]), scores)
    pd.testing.assert_frame_equal(_table(db, "lead_stage_history", ["id"]), history)
    assert shadowed.counts == alone.counts
    assert (
        f"  shadow: challenger lead-scoring v2 scored {N_LEADS:,} leads into {SHADOW}"
        in shadowed.to_text().splitlines()
    )
    shadow = _table(db, SHADOW, ["lead_id"])
    assert len(shadow) == N_LEADS and shadow["lead_id"].tolist() == scores["lead_id"].tolist()
    assert set(shadow["model_version"]) == {"2"} and set(shadow["origin"]) == {"batch"}
    assert set(shadow["run_id"]) == {shadowed.run.run_id}
    assert set(shadow["as_of"]) == {pd.Timestamp(AS_OF)}
    # and they are another model's scores, stages under its own cut-offs
    assert (shadow["win_probability"] != scores["win_probability"]).mean() > 0.5
    assert (shadow["stage"] != scores["stage"]).any()
    # and they are what the challenger gives when it rescores alone, as the champion
    _drop_rescoring_tables(db)
    _run(cfg, db, challenger_dir, "2")
    as_champion = _table(db, "lead_scores", ["lead_id"])
    pd.testing.assert_frame_equal(shadow[["lead_id", *SCORES]], as_champion[["lead_id", *SCORES]])


def test_the_challenger_catches_up_on_leads_it_has_not_scored_then_follows_the_due_ones(
    sqlite_engine: sa.Engine, world: World, demo_config: Config, models: tuple[Path, Path]
) -> None:
    write_world(world, sqlite_engine)
    champion, challenger_dir = models
    cfg = _cfg(demo_config, sqlite_engine)
    # given a database the champion has scored without a challenger
    _run(cfg, sqlite_engine, champion, "1")
    # when an incremental run at the same as_of meets a new challenger
    first = _run(
        cfg, sqlite_engine, champion, "1", challenger=Challenger("2", "v2", challenger_dir)
    )
    # then nothing is due for the champion, and the challenger scores every lead once
    assert first.counts["evaluated"] == 0 and first.counts["written"] == 0
    assert f"scored {N_LEADS:,} leads" in first.shadow
    # and the next run scores with it only what the champion evaluates
    lead = world.leads["lead_id"].iloc[3]
    with sqlite_engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE leads SET title = 'Chief Revenue Officer' WHERE lead_id = :id"),
            {"id": lead},
        )
    second = _run(
        cfg, sqlite_engine, champion, "1", challenger=Challenger("2", "v2", challenger_dir)
    )
    assert second.counts["evaluated"] == 1
    assert "scored 1 leads" in second.shadow
    shadow = _table(sqlite_engine, SHADOW, ["lead_id"]).set_index("lead_id")
    assert shadow.loc[lead, "run_id"] == second.run.run_id
    assert (shadow.drop(index=lead)["run_id"] == first.run.run_id).all()
    # and a full run in worker processes shadows every lead again, to the same numbers
    pooled = _run(
        cfg, sqlite_engine, champion, "1", full=True, workers=2,
        challenger=Challenger("2", "v2", challenger_dir),
    )  # fmt: skip
    assert f"scored {N_LEADS:,} leads" in pooled.shadow
    again = _table(sqlite_engine, SHADOW, ["lead_id"]).set_index("lead_id")
    assert (again["run_id"] == pooled.run.run_id).all()
    pd.testing.assert_frame_equal(again[SCORES], shadow[SCORES])
    # and a run without a challenger (--no-shadow) leaves the table as it is
    third = _run(cfg, sqlite_engine, champion, "1", full=True)
    assert third.shadow is None
    pd.testing.assert_frame_equal(
        _table(sqlite_engine, SHADOW, ["lead_id"]).set_index("lead_id"), again
    )


def test_a_challenger_that_fails_never_fails_the_champions_run(
    sqlite_engine: sa.Engine,
    world: World,
    demo_config: Config,
    models: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    write_world(world, sqlite_engine)
    champion, challenger_dir = models
    cfg = _cfg(demo_config, sqlite_engine)
    # a challenger folder that holds no model: the run is the champion's alone, with a line
    broken = tmp_path / "broken"
    broken.mkdir()
    first = _run(cfg, sqlite_engine, champion, "1", challenger=Challenger("2", "v2", broken))
    assert first.counts["written"] == N_LEADS and _status(sqlite_engine, first) == "completed"
    assert first.shadow.startswith("shadow: challenger v2 not scored: FileNotFoundError")
    assert not sa.inspect(sqlite_engine).has_table(SHADOW)
    # the champion itself as challenger is refused the same way
    same = _run(cfg, sqlite_engine, champion, "1", challenger=Challenger("1", "v1", champion))
    assert "not scored: version 1 is the champion itself" in same.shadow
    # a shadow table that cannot take the rows fails the shadow writes, not the run
    with sqlite_engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {SHADOW} (lead_id TEXT, model_version TEXT, origin TEXT, "
                "PRIMARY KEY (lead_id, model_version, origin))"
            )
        )
    full = _run(
        cfg,
        sqlite_engine,
        champion,
        "1",
        full=True,
        challenger=Challenger("2", "v2", challenger_dir),
    )
    assert full.counts["evaluated"] == N_LEADS and _status(sqlite_engine, full) == "completed"
    assert "scored 0 leads" in full.shadow
    assert f"shadow writes stopped: writing {SHADOW}: OperationalError" in full.shadow


def test_rescore_shadows_with_the_registrys_challenger_or_an_export(
    trained: TrainResult, world: World, mlflow_store: str, tmp_path: Path
) -> None:
    # given a champion (v1) and a challenger (v2: the model before the refit) in the registry
    _, v1 = tracking.log_training(trained, {}, register=True)
    _, v2 = tracking.log_training(dataclasses.replace(trained, refitted=None), {}, register=True)
    client = registry.setup()
    registry.promote(client, str(v1))
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    engine = sa.create_engine(url)
    write_world(world, engine)
    base = ["rescore", "-c", str(REPO / "configs/demo.yaml"), "--db", url, "--workers", "1"]
    base += ["--as-of", "2025-11-01"]
    # without a challenger: no shadow line, no shadow table
    done = runner.invoke(app, base)
    assert done.exit_code == 0, done.output
    assert "shadow" not in done.output and not sa.inspect(engine).has_table(SHADOW)
    # with one: the line, and a row per lead by v2; --no-shadow skips it
    registry.set_challenger(client, str(v2))
    skipped = runner.invoke(app, [*base, "--no-shadow"])
    assert skipped.exit_code == 0 and "shadow" not in skipped.output
    done = runner.invoke(app, base)
    assert done.exit_code == 0, done.output
    line = f"shadow: challenger lead-scoring v2 scored {N_LEADS:,} leads into {SHADOW}"
    assert line in done.output
    shadow = _table(engine, SHADOW, ["lead_id"])
    assert len(shadow) == N_LEADS and set(shadow["model_version"]) == {"2"}
    # and an export of it serves a job without registry access, next to --model
    models = tmp_path / "models"
    champion = registry.export(client, str(v1), models)
    challenger = registry.export(client, str(v2), models)
    offline = [*base, "--model", str(champion), "--full"]
    assert "shadow" not in runner.invoke(app, offline).output  # --model alone: no registry
    done = runner.invoke(app, [*offline, "--challenger-model", str(challenger)])
    assert done.exit_code == 0, done.output
    assert line in done.output  # the full run shadows every lead again
    pd.testing.assert_frame_equal(_table(engine, SHADOW, ["lead_id"])[SCORES], shadow[SCORES])
    # and a challenger export that is not there is a line, not a failed run
    missing = runner.invoke(app, [*offline, "--challenger-model", str(tmp_path / "nope")])
    assert missing.exit_code == 0, missing.output
    assert "not scored: NotFoundError: --challenger-model:" in missing.output
    both = runner.invoke(app, [*base, "--no-shadow", "--challenger-model", str(challenger)])
    assert both.exit_code == 2 and "contradict" in both.output
