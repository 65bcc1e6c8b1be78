"""What the rescoring tests share (test_rescore.py, test_rescore_runs.py; test_shadow.py and
test_spark.py take `db` and `world`): a small synthetic CRM, the trained demo model with cut-offs
that move its stages, and helpers to run and read."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.batch.rescore import Options, rescore
from scoring.config import Config
from scoring.data.load import load_events, load_leads
from scoring.features import build_features
from training.pipeline.run import TrainResult
from training.synthetic import World, generate_world, write_world

N_LEADS = 1_200
AS_OF = datetime(2025, 11, 1)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(N_LEADS, seed=5)


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def scorer_dir(
    trained: TrainResult, world: World, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The trained demo model with cut-offs that put ~20% of this world above MQL at AS_OF, so
    stages move."""
    engine = sa.create_engine(f"sqlite:///{tmp_path_factory.mktemp('cut') / 'w.db'}")
    write_world(world, engine)
    cfg = trained.scorer.config
    leads, _ = load_leads(cfg, engine)
    events, _ = load_events(cfg, engine)
    value = trained.scorer.score(build_features(cfg, leads.inputs, events, AS_OF))
    revenue = value["expected_revenue"]
    cut = dataclasses.replace(
        trained.scorer.thresholds,
        mql=float(revenue.quantile(0.8)),
        sql=float(revenue.quantile(0.95)),
    )
    folder = tmp_path_factory.mktemp("scorer") / "scorer"
    trained.scorer.with_thresholds(cut).save(folder)
    return folder


@pytest.fixture
def db(any_engine: sa.Engine, world: World) -> sa.Engine:
    write_world(world, any_engine)
    return any_engine


def _cfg(demo_config: Config, engine: sa.Engine) -> Config:
    return demo_config.with_database(_url(engine))


def _run(cfg: Config, engine: sa.Engine, folder: Path, version: str = "1", **options):
    options = {"as_of": AS_OF, "workers": 1, "chunk_rows": 300} | options
    return rescore(cfg, engine, folder, version, Options(**options), stream=io.StringIO())


def _adds_up(counts: Mapping[str, int]) -> None:
    """Every lead id read counts once: scored (written or unchanged), not due, or failed."""
    assert counts["evaluated"] == counts["written"] + counts["unchanged"], counts
    assert counts["leads"] == counts["evaluated"] + counts["skipped"] + counts["failed"], counts


def _record(row: pd.Series) -> dict:
    """A world row as insert values: missing values as None, timestamps as datetimes."""
    return {
        k: None if pd.isna(v) else (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
        for k, v in row.items()
    }


def _table(engine: sa.Engine, name: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(sa.Table(name, sa.MetaData(), autoload_with=conn)), conn)


def _runs(engine: sa.Engine) -> pd.DataFrame:
    try:
        return _table(engine, "lead_score_runs")
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError):  # not created yet, or half
        return pd.DataFrame()
