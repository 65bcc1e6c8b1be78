"""The synthetic CRM of the acceptance figures (20k leads, seed 7) and one trained pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from scoring.config import Config, load_config
from tests.conftest import REPO
from training.pipeline import TrainResult, run_training
from training.synthetic import generate_world, write_world


@pytest.fixture(scope="session")
def demo_world_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('world') / 'leads.db'}"
    write_world(generate_world(20_000, seed=7), sa.create_engine(url))
    return url


@pytest.fixture(scope="session")
def demo_config(demo_world_db: str) -> Config:
    return load_config(REPO / "configs" / "demo.yaml").with_database(demo_world_db)


@pytest.fixture(scope="session")
def trained(demo_config: Config) -> TrainResult:
    return run_training(demo_config, sa.create_engine(demo_config.source.database))


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh MLflow tracking + registry store (SQLite, local artifacts) for one test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # local artifact root ./mlruns lands in tmp_path
    return uri
