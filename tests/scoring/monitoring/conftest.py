"""A small demo world for the funnel report, on SQLite and on PostgreSQL (one database per module
and backend): the synthetic CRM with a few awkward rows added, lead_feedback synced from the CRM
mapping, and a lead_scores table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.batch.tables import create as create_score_tables
from scoring.config import Config, load_config
from scoring.data.bulk import write_frames
from scoring.feedback.crm import sync_crm
from tests.conftest import REPO, fresh_postgres
from tests.scoring.monitoring.sla_samples import CONFIG as SLA_CONFIG
from training.synthetic import generate_world

GRADES = ("A1", "A2", "B1", "B2", "C1", "C2")


@dataclass(frozen=True)
class FunnelWorld:
    engine: sa.Engine
    url: str
    cfg: Config  # demo.yaml on this database
    as_of: pd.Timestamp  # the world's export time


def _awkward(leads: pd.DataFrame) -> pd.DataFrame:
    """The rows a real CRM has: no source, no creation date, an outcome spelt differently, a
    won deal closed before it was created or without revenue."""
    leads = leads.copy()
    won = leads.index[leads["outcome"] == "won"]
    leads.loc[leads.index[[5, 17, 300]], "lead_source"] = None
    leads.loc[leads.index[[7, 400]], "created_at"] = pd.NaT
    leads.loc[leads.index[[9, 10]], "lead_source"] = [" webinar ", ""]
    opportunity = leads.index[leads["sql_at"].notna()][5]  # an opportunity created directly
    leads.loc[opportunity, ["mql_at", "sal_at"]] = pd.NaT
    leads.loc[won[0], "lead_source"] = None
    leads.loc[won[5], "lead_source"] = " "
    leads.loc[won[1], "outcome"] = " Won"
    leads.loc[won[2], "closed_at"] = leads.loc[won[2], "created_at"] - pd.Timedelta(days=3)
    leads.loc[won[3], "revenue"] = np.nan
    leads.loc[won[4], "created_at"] = pd.NaT
    return leads


def _scores(lead_ids: pd.Series) -> pd.DataFrame:
    """A lead_scores row for most leads (a probability from the row number, not a model's: the
    report only joins and groups them), a few deleted, one for a lead that is gone."""
    n = len(lead_ids)
    position = np.arange(n)
    probability = ((position * 2654435761) % 1000) / 1000.0 * 0.6
    frame = pd.DataFrame({"lead_id": lead_ids.to_numpy(), "win_probability": probability})
    frame["grade"] = [GRADES[i % len(GRADES)] for i in position]
    frame.loc[position % 41 == 0, "grade"] = None
    frame["deleted_at"] = pd.NaT
    frame.loc[position % 53 == 0, "deleted_at"] = pd.Timestamp("2025-06-01")
    frame = frame[position % 9 != 0]  # unscored leads
    gone = pd.DataFrame(
        {"lead_id": ["L9999999"], "win_probability": [0.5], "grade": ["A1"], "deleted_at": [None]}
    )
    frame = pd.concat([frame, gone], ignore_index=True)
    stage = np.where(frame["win_probability"] >= 0.3, "sql", "mql")
    return frame.assign(
        model_version="stand-in",
        scored_at=pd.Timestamp("2025-12-01"),
        stage=stage,
        input_hash="-",
        next_check_at=pd.Timestamp("2026-02-01"),
        run_id=1,
    )


@pytest.fixture(scope="session")
def funnel_frames() -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    world = generate_world(4_000, seed=11)
    frames = {
        "accounts": world.accounts,
        "leads": _awkward(world.leads),
        "sales_activities": world.sales_activities,
    }
    return frames, world.exported_at


def _fill(engine: sa.Engine, frames: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> Config:
    url = engine.url.render_as_string(hide_password=False)
    cfg = load_config(REPO / "configs" / "demo.yaml").with_database(url)
    write_frames(engine, frames)
    synced = sync_crm(cfg, engine, as_of.to_pydatetime())
    assert synced is not None and synced.stored > 0
    tables = create_score_tables(engine)
    rows = _scores(frames["leads"]["lead_id"]).astype(object)
    rows = rows.where(rows.notna(), None).to_dict("records")
    with engine.begin() as conn:
        conn.execute(tables.scores.insert(), rows)
    return cfg


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def funnel_world(
    request: pytest.FixtureRequest,
    funnel_frames: tuple[dict[str, pd.DataFrame], pd.Timestamp],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FunnelWorld]:
    """The small demo world on SQLite, then on a fresh PostgreSQL database."""
    frames, as_of = funnel_frames
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("funnel") / "leads.db"
        engines: Iterator[sa.Engine] = iter([sa.create_engine(f"sqlite:///{path}")])
    else:
        engines = fresh_postgres()
    engine = next(engines)
    try:
        cfg = _fill(engine, frames, as_of)
        yield FunnelWorld(engine, cfg.source.database, cfg, as_of)
    finally:
        engine.dispose()
        next(engines, None)  # drops the PostgreSQL database


@pytest.fixture
def sla_config(tmp_path: Path) -> Config:
    """The config of the SLA tests' small database (sla_samples.py)."""
    path = tmp_path / "sla.yaml"
    path.write_text(SLA_CONFIG)
    return load_config(path)
