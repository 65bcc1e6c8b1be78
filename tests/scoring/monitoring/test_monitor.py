"""`leadscore monitor` on the demo world: a model trained as of 2025-07-01 judged on the six
months after. An unchanged world raises no alarm; a new lead source, a base rate that moved and
a field that stopped being filled each give the right verdict, naming what moved. A challenger
(an older model) is compared with the champion on the same closed leads."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.cli.errors import BREACH
from scoring.cli.main import app
from scoring.config import Config
from scoring.data.load import load_events, load_leads
from scoring.features import build_features
from scoring.features.moments import scoring_moments
from scoring.model.scorer import LeadScorer
from scoring.monitoring import runs
from scoring.monitoring.calibration import expected_calibration_error, rank_auc
from scoring.monitoring.monitor import Model, monitor
from tests.conftest import REPO
from training.pipeline.run import TrainResult, run_training

UNTIL = pd.Timestamp("2025-07-01")
AS_OF = pd.Timestamp("2026-01-01")
runner = CliRunner()


def _train(cfg: Config, until: pd.Timestamp) -> LeadScorer:
    training = cfg.training.model_copy(update={"tune_trials": 0, "until": until.to_pydatetime()})
    cfg = cfg.model_copy(update={"training": training})
    return run_training(cfg, sa.create_engine(cfg.source.database)).registered


@pytest.fixture(scope="module")
def champion(trained_until: TrainResult) -> Model:
    assert trained_until.data.known_at == UNTIL
    return Model("lead-scoring v1", trained_until.registered)


@pytest.fixture
def world(demo_world_db: str, demo_config: Config, tmp_path: Path) -> Config:
    """A copy of the demo world this test may change."""
    path = tmp_path / "leads.db"
    shutil.copy(demo_world_db.removeprefix("sqlite:///"), path)
    return demo_config.with_database(f"sqlite:///{path}")


def _change(cfg: Config, statement: str, **params: object) -> None:
    with sa.create_engine(cfg.source.database).begin() as conn:
        conn.execute(sa.text(statement), params)


def _judge(cfg: Config, champion: Model, challenger: Model | None = None) -> dict:
    engine = sa.create_engine(cfg.source.database)
    return monitor(cfg, engine, champion, AS_OF.to_pydatetime(), challenger)


def _status(result: dict) -> dict[str, str]:
    return {c["check"]: c["status"] for c in result["checks"]}


def test_an_unchanged_world_raises_no_alarm(world: Config, champion: Model) -> None:
    result = _judge(world, champion)
    assert result["verdict"] == "ok", result["reasons"]
    assert set(_status(result).values()) == {"ok"}
    assert result["since"] == UNTIL.to_pydatetime()
    assert result["leads"] > 3_000 and result["closed"] > 3_000
    cal = result["calibration"]
    assert cal["ece_low"] <= cal["ece"] <= cal["ece_high"] < 0.05
    assert sum(b["leads"] for b in cal["bands"]) == result["closed"]
    assert result["drift"]["score_psi"] < 0.25
    load = result["load"]
    assert load["weeks"] and sum(load["stage_mix"].values()) == pytest.approx(1.0)


def test_the_figures_are_the_models_own_on_the_closed_leads(world: Config, champion: Model) -> None:
    """Calibration and ranking recomputed by hand: the leads closed in the window, featurised at
    their scoring moment, scored by the champion."""
    engine = sa.create_engine(world.source.database)
    leads, _ = load_leads(world, engine)
    meta = leads.meta
    closed_at = meta["closed_at"].fillna(meta["created_at"])
    closed = meta["label"].notna() & (closed_at > UNTIL) & (closed_at <= AS_OF)
    moment = scoring_moments(world, meta)[closed]
    events, _ = load_events(world, engine, list(meta.index[closed]))
    features = build_features(world, leads.inputs[closed], events, moment)
    p = champion.scorer.score(features)["win_probability"].to_numpy()
    y = meta.loc[closed, "label"].to_numpy(dtype=float)
    cal = _judge(world, champion)["calibration"]
    assert cal["leads"] == len(y)
    assert cal["auc"] == pytest.approx(rank_auc(y, p))
    assert cal["ece"] == pytest.approx(expected_calibration_error(y, p))
    assert cal["observed_rate"] == pytest.approx(y.mean())


def _new_leads(cfg: Config) -> str:
    return f"created_at > '{UNTIL:%Y-%m-%d}'"


SHIFTS: dict[str, tuple[Callable[[Config], None], str, str]] = {
    "a new lead source": (
        lambda cfg: _change(
            cfg,
            f"UPDATE leads SET lead_source = 'podcast' WHERE {_new_leads(cfg)} "
            "AND abs(random()) % 10 < 6",
        ),
        "feature_drift",
        "lead_source",
    ),
    "a changed base rate": (
        lambda cfg: _change(
            cfg,
            "UPDATE leads SET outcome = 'won', revenue = coalesce(opportunity_amount, 20000) "
            f"WHERE outcome = 'lost' AND closed_at > '{UNTIL:%Y-%m-%d}' "
            "AND abs(random()) % 100 < 8",
        ),
        "calibration",
        "the base rate moved",
    ),
    "a broken field": (
        lambda cfg: _change(cfg, f"UPDATE leads SET title = NULL WHERE {_new_leads(cfg)}"),
        "feature_drift",
        "title",
    ),
}


@pytest.mark.parametrize("shift", list(SHIFTS))
def test_a_shift_is_detected_with_the_right_verdict(
    shift: str, world: Config, champion: Model
) -> None:
    change, check, named = SHIFTS[shift]
    change(world)
    result = _judge(world, champion)
    assert result["verdict"] == "retrain_recommended"
    assert _status(result)[check] == "breach"
    why = next(c["why"] for c in result["checks"] if c["check"] == check)
    assert named in why
    assert any(named in reason for reason in result["reasons"])


def test_a_model_without_a_reference_cannot_be_judged(world: Config, champion: Model) -> None:
    meta = {k: v for k, v in champion.scorer.metadata.items() if k != "monitoring"}
    bare = Model("old", dataclasses.replace(champion.scorer, metadata=meta))
    result = _judge(world, bare)
    assert result["verdict"] == "insufficient_data"
    assert "retrain" in result["reasons"][0]


def test_the_challenger_is_compared_on_the_same_closed_leads(
    world: Config, champion: Model, demo_config: Config
) -> None:
    older = Model("lead-scoring v0", _train(demo_config, pd.Timestamp("2025-01-01")))
    result = _judge(world, champion, older)
    found = result["challenger"]
    # the older model's cut-off is earlier: the window is the champion's, on the same leads
    assert found["closed"] == result["closed"]
    assert found["champion"]["auc"] == pytest.approx(result["calibration"]["auc"])
    assert found["auc_gain_low"] <= found["auc_gain_high"]
    assert isinstance(found["better"], bool)
    swapped = _judge(world, older, champion)["challenger"]
    assert swapped["champion"]["auc"] == pytest.approx(found["challenger"]["auc"])
    assert swapped["challenger"]["net_value"] == pytest.approx(found["champion"]["net_value"])


def test_results_are_kept_per_run(world: Config, champion: Model) -> None:
    engine = sa.create_engine(world.source.database)
    assert runs.history(engine) == []
    first = _judge(world, champion)
    runs.store(engine, first, pd.Timestamp("2026-01-01").to_pydatetime())
    SHIFTS["a broken field"][0](world)
    runs.store(engine, _judge(world, champion), pd.Timestamp("2026-01-08").to_pydatetime())
    kept = runs.history(engine, "demo")
    assert [r["verdict"] for r in kept] == ["ok", "retrain_recommended"]
    assert kept[0]["result"]["calibration"]["ece"] == pytest.approx(first["calibration"]["ece"])
    assert runs.latest(engine) == [kept[1]["result"]]


def test_the_command_exits_6_on_a_breach(world: Config, champion: Model, tmp_path: Path) -> None:
    export = tmp_path / "export"
    champion.scorer.save(export / "scorer")
    args = ["monitor", "-c", str(REPO / "configs/demo.yaml"), "--db", world.source.database]
    args += ["--model", str(export), "--as-of", f"{AS_OF:%Y-%m-%d}"]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert "verdict: ok" in ok.output
    SHIFTS["a broken field"][0](world)
    breached = runner.invoke(app, args)
    assert breached.exit_code == BREACH, breached.output
    assert "verdict: retrain recommended" in breached.output
    assert "feature_drift" in breached.output and "title" in breached.output
    engine = sa.create_engine(world.source.database)
    assert [r["verdict"] for r in runs.history(engine)] == ["ok", "retrain_recommended"]
    assert np.isfinite(runs.history(engine)[0]["result"]["calibration"]["auc"])


def test_cut_offs_that_outgrow_the_teams_call_for_a_retune(world: Config, champion: Model) -> None:
    """The same world with a team of a tenth of the capacity: only the load breaches."""
    costs = world.costs.model_copy(update={"sdr_capacity_per_week": 10.0})
    result = _judge(world.model_copy(update={"costs": costs}), champion)
    assert result["verdict"] == "retune_recommended"
    assert [c["check"] for c in result["checks"] if c["status"] == "breach"] == ["load"]
    load = result["load"]
    assert load["mql_per_week"] > 10
    weeks = pd.to_datetime([w["week"] for w in load["weeks"]])
    assert (weeks.dayofweek == 0).all() and (weeks.diff()[1:] == pd.Timedelta(days=7)).all()
    recent = load["weeks"][-4:]
    assert load["mql_per_week"] == pytest.approx(np.mean([w["mqls"] for w in recent]))


def test_every_rescore_ends_with_the_monitor(
    world: Config, champion: Model, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    champion.scorer.save(export / "scorer")
    args = ["rescore", "-c", str(REPO / "configs/demo.yaml"), "--db", world.source.database]
    args += ["--model", str(export), "--as-of", f"{AS_OF:%Y-%m-%d}", "--workers", "1"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "monitor export" in done.output and "verdict: ok" in done.output
    kept = runs.history(sa.create_engine(world.source.database))
    assert [(r["model_version"], r["verdict"]) for r in kept] == [("export", "ok")]
    assert kept[0]["as_of"] == f"{AS_OF:%Y-%m-%dT%H:%M:%S}"
    skipped = runner.invoke(app, [*args, "--no-monitor"])
    assert skipped.exit_code == 0 and "verdict" not in skipped.output
    assert len(runs.history(sa.create_engine(world.source.database))) == 1
