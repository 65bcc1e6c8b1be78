"""Shared fixtures: a small hand-made event-log CRM, database URLs, the shared datasets, the
synthetic demo world with one trained pipeline, and a fresh MLflow store."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import pickle
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.config import Config, load_config
from scoring.settings import settings
from training.pipeline.run import TrainResult, run_training
from training.synthetic import generate_world, write_world
from training.thresholds.replay import Replay
from training.thresholds.tuning import held_out_replay

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LEADSCORE_SHARED", REPO.parent / "shared"))
# No booster search unless a test's config asks for one (the `trained` model has two trials per
# booster): the search would double every training in the suite.
os.environ.setdefault("LEADSCORE_TUNE_TRIALS", "0")
if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers are the parallelism (see the Makefile)
    os.environ.setdefault("LEADSCORE_THREADS", "1")
PG_ADMIN_URL = os.environ.get(
    "LEADSCORE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

TINY_CONFIG = """
name: tiny
source: {database: "sqlite:///unused.db"}
leads:
  table: leads
  id: lead_id
  created_at: created_at
  outcome: {column: outcome, won: [won], lost: [lost], open: [open]}
  revenue: revenue
  close_date: closed_at
  funnel: {mql: mql_at}
  joins:
    - {table: accounts, keys: {account_id: account_id}}
features:
  fit:
    - {column: title, kind: job_title}
    - {column: vertical, kind: categorical}
    - {column: employees, kind: numeric, bands: [50, 500]}
    - {column: tech_stack, kind: tags, groups: {crm: [Salesforce, HubSpot], legacy: [Siebel]}}
  intent:
    - {column: newsletter, kind: boolean}
events:
  table: activities
  lead_id: lead_id
  type: event_type
  timestamp: occurred_at
  types: {web_visit: [web_visit], pricing_page: [pricing_page, "Pricing Page Visit"],
          demo_request: [demo_request]}
  hand_raise: [demo_request, pricing_page]
  windows_days: [1, 7, 30]
  half_life_days: 7
  weights: {demo_request: 5}
"""


def tiny_tables() -> dict[str, pd.DataFrame]:
    accounts = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "vertical": ["Software", "Retail", None],
            "employees": [1200, 30, None],
            "tech_stack": ["Salesforce;Slack", "", None],
        }
    )
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3", "L4"],
            "account_id": ["A1", "A2", "A3", "A9"],
            "title": ["VP Sales", "Marketing Intern", "n/a", "Head of RevOps"],
            "newsletter": ["yes", "no", None, "Y"],
            "created_at": ["2025-01-01", "2025-01-05", "2025-02-01", "2025-02-10 08:30:00"],
            "mql_at": ["2025-01-10", None, None, None],
            "outcome": ["won", "lost", "open", "open"],
            "revenue": [50_000.0, None, None, None],
            "closed_at": ["2025-03-01", "2025-03-02", None, None],
        }
    )
    activities = pd.DataFrame(
        {
            "lead_id": ["L1", "L1", "L1", "L1", "L2", "L4", "L9"],
            "event_type": [
                "web_visit",
                "Pricing Page Visit",
                "demo_request",
                "web_visit",
                "webinar",
                "pricing_page",
                "web_visit",
            ],
            "occurred_at": [
                "2025-01-02 10:00",
                "2025-01-08 09:00",
                "2025-01-09 15:00",
                "2025-02-20 12:00",
                "2025-01-06 12:00",
                "2025-02-11 09:00",
                "2025-01-01 00:00",
            ],
        }
    )
    return {"accounts": accounts, "leads": leads, "activities": activities}


@pytest.fixture
def tiny_config(tmp_path: Path) -> Config:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CONFIG)
    return load_config(path)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'leads.db'}")
    yield engine
    engine.dispose()


def _postgres_admin() -> sa.Engine | None:
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            return engine
    except Exception:
        engine.dispose()
        return None


def fresh_postgres() -> Iterator[sa.Engine]:
    """A fresh PostgreSQL database, dropped when the generator is closed (or skip, or fail in
    CI, when the server is down)."""
    admin = _postgres_admin()
    if admin is None:
        message = (
            f"PostgreSQL is not reachable at {PG_ADMIN_URL}; start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        )
        if os.environ.get("LEADSCORE_REQUIRE_POSTGRES"):
            pytest.fail(message + " (LEADSCORE_REQUIRE_POSTGRES is set: CI must run these tests)")
        pytest.skip(message)
    name = f"leadscore_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(sa.engine.make_url(PG_ADMIN_URL).set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[sa.Engine]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    yield from fresh_postgres()


@pytest.fixture(params=["sqlite", "postgres"])
def any_engine(request: pytest.FixtureRequest) -> sa.Engine:
    """The same test against SQLite and the real PostgreSQL server."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture
def shared_datasets() -> Path:
    path = SHARED / "datasets"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the real CRM exports live in ../shared beside the repo")
    return path


# The synthetic CRM of the acceptance figures (20k leads, seed 7) and one trained pipeline,
# shared by the training, serving and batch tests (built once per session). Under pytest-xdist
# the trained pipelines are built once per run: the first worker to need one trains it, the
# other loads it (each worker keeps its own copy of the world's database files).


T = TypeVar("T")


def _on_database(result: TrainResult, url: str) -> TrainResult:
    """`result` with its configs on the lead database at `url`."""
    scorer = dataclasses.replace(result.scorer, config=result.scorer.config.with_database(url))
    refitted = result.refitted and dataclasses.replace(
        result.refitted, config=result.refitted.config.with_database(url)
    )
    config = result.config.with_database(url)
    return dataclasses.replace(result, config=config, scorer=scorer, refitted=refitted)


def _once(name: str, factory: pytest.TempPathFactory, make: Callable[[], T]) -> tuple[T, bool]:
    """`make()` once for all the workers of a pytest-xdist run (a pickle beside their
    temporary folders, made under a lock), and whether this worker loaded it."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return make(), False
    shared = factory.getbasetemp().parent / "trained-once"
    shared.mkdir(exist_ok=True)
    done = shared / f"{name}.pickle"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return pickle.loads(done.read_bytes()), True
        made = make()
        part = done.with_suffix(".part")
        part.write_bytes(pickle.dumps(made, protocol=pickle.HIGHEST_PROTOCOL))
        part.replace(done)
        return made, False


def _trained_once(
    name: str, factory: pytest.TempPathFactory, url: str, train: Callable[[], TrainResult]
) -> TrainResult:
    """`train()` once for all the workers, on this worker's demo world at `url`."""
    result, loaded = _once(name, factory, train)
    return _on_database(result, url) if loaded else result


@pytest.fixture(scope="session")
def demo_world_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('world') / 'leads.db'}"
    write_world(generate_world(20_000, seed=7), sa.create_engine(url))
    return url


@pytest.fixture(scope="session")
def demo_config(demo_world_db: str) -> Config:
    return load_config(REPO / "configs" / "demo.yaml").with_database(demo_world_db)


@pytest.fixture(scope="session")
def trained(demo_config: Config, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """The demo trained with two booster-search trials: the defaults, then one TPE suggestion."""
    training = demo_config.training.model_copy(update={"tune_trials": 2})
    cfg = demo_config.model_copy(update={"training": training})
    return _trained_once(
        "trained",
        tmp_path_factory,
        cfg.source.database,
        lambda: run_training(cfg, sa.create_engine(cfg.source.database)),
    )


@pytest.fixture(scope="session")
def replay(trained: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Replay:
    """The threshold study's replay of the trained demo's held-out leads (the timeline alone
    takes about 20 s), built once for the card and study tests of all the workers."""
    engine = sa.create_engine(trained.config.source.database)
    made, _ = _once(
        "replay",
        tmp_path_factory,
        lambda: held_out_replay(trained.config, trained.scorer, engine, trained.data),
    )
    return made


@pytest.fixture(scope="session")
def trained_until(demo_config: Config, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """The demo trained as of 2025-07-01 (no booster search): monitoring has the six months
    after to judge it on (tests/scoring/monitoring/test_monitor.py, the report page's test)."""
    training = demo_config.training.model_copy(
        update={"tune_trials": 0, "until": datetime(2025, 7, 1)}
    )
    cfg = demo_config.model_copy(update={"training": training})
    return _trained_once(
        "trained_until",
        tmp_path_factory,
        cfg.source.database,
        lambda: run_training(cfg, sa.create_engine(cfg.source.database)),
    )


def as_source(trained: TrainResult, source: str) -> TrainResult:
    """The same training under another config `name`: a second data source."""
    cfg = trained.config.model_copy(update={"name": source})
    scorer = dataclasses.replace(trained.scorer, config=cfg)
    refitted = trained.refitted and dataclasses.replace(trained.refitted, config=cfg)
    return dataclasses.replace(trained, config=cfg, scorer=scorer, refitted=refitted)


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh MLflow tracking + registry store (SQLite, local artifacts) for one test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # local artifact root ./mlruns lands in tmp_path
    return uri


# The trained demo model registered as lead-scoring version 1 and promoted to champion in a
# scratch MLflow store, once per session; read, never changed, by the service's BentoML import
# (bento_home), the `leadscore rescore` process of tests/scoring/batch/test_rescore.py and the
# export of tests/project/test_runtime_install.py, which each registered it on their own before.


@pytest.fixture(scope="session")
def demo_registry(trained: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The store's URI, its folder (the local artifact root ./mlruns is in it) and the version.
    A test that registers, promotes or tags takes `mlflow_store` or a store of its own."""
    from scoring.model import registry
    from training import tracking

    folder = tmp_path_factory.mktemp("demo-mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        patch.chdir(folder)
        _, version = tracking.log_training(trained, plots={}, register=True)
        assert version is not None
        registry.promote(registry.setup(), str(version))
    return {"uri": uri, "folder": str(folder), "version": str(version)}


# Real-time scoring (scoring/service.py): lead-scoring@champion of `demo_registry` imported into a
# scratch BentoML model store, once per session.


@pytest.fixture(scope="session")
def bento_home(demo_registry: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BENTOML_HOME holding `lead-scoring` imported from lead-scoring@champion (set for the
    session, so the service module and `bentoml serve` subprocesses find the model)."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    home = tmp_path_factory.mktemp("bentoml")
    os.environ["BENTOML_HOME"] = str(home)
    BentoMLContainer.bentoml_home.set(str(home))
    BentoMLContainer.model_store_dir.set(str(home / "models"))
    BentoMLContainer.model_store.set(ModelStore(home / "models"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", demo_registry["uri"])
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        patch.chdir(demo_registry["folder"])
        from scoring.serving.store import import_champion

        import_champion()
    return home


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings are read once per process; a test that sets a LEADSCORE_* variable sees it."""
    settings.cache_clear()
    yield
    settings.cache_clear()


# Markers follow the fixtures a test uses (directly or through another fixture), so they cannot be
# forgotten: the 20k-lead demo world or a model trained on it -> slow (left out of
# `make test-fast`); the PostgreSQL server -> postgres; the real exports in ../shared -> shared.
SLOW_FIXTURES = {"demo_world_db", "trained", "trained_until", "demo_registry", "bento_home"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = {str(v) for v in callspec.params.values()} if callspec else set()
        if SLOW_FIXTURES & names:
            item.add_marker(pytest.mark.slow)
        if "postgres_engine" in names or ("any_engine" in names and "postgres" in params):
            item.add_marker(pytest.mark.postgres)
        if "shared_datasets" in names:
            item.add_marker(pytest.mark.shared)
