"""Raw exports, by config alone, through every command: init, import, summary (the data check),
train (the leak left out, no amounts, rows in time order), tune, promote, rescore."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from scoring.cli.main import app
from tests.fixtures.exports import (
    BANK_LIKE_CONFIG,
    write_bank_like,
    write_with_wins,
    write_xlsx,
    write_zero_one,
)

runner = CliRunner()
COSTS = """
costs: {sdr_cost_per_mql: 0.01, ae_cost_per_sql: 0.05, leads_per_week: 200,
        sdr_capacity_per_week: 60, ae_capacity_per_week: 20}
training: {gate_margin: 0.05}  # a 600-lead test fold cannot tell the model from the baselines
"""


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.fixture
def export(tmp_path: Path, mlflow_store: str) -> Path:
    return write_bank_like(tmp_path, rows=3_000)


def test_a_raw_export_goes_from_init_to_rescored_leads(export: Path, tmp_path: Path) -> None:
    # init drafts a config that imports as it is, the leak commented out
    draft = tmp_path / "draft.yaml"
    out = _ok("init", str(export), "--out", str(draft), "--db", f"sqlite:///{tmp_path / 'd.db'}")
    assert "1 suspected leaks" in out and "id (generated)" in out
    _ok("data", "import", "-c", str(draft))
    # the reviewed config: rows in time order, "Select" as missing, costs in won deals
    config = tmp_path / "bank-like.yaml"
    config.write_text(BANK_LIKE_CONFIG.format(db=tmp_path / "leads.db", path=export) + COSTS)
    _ok("data", "import", "-c", str(config))
    summary = _ok("data", "summary", "-c", str(config))
    assert "leak suspect: call_status" in summary
    assert "win rate by period (leads.order_by)" in summary
    trained = _ok("train", "-c", str(config), "--tune-thresholds", "--trials", "40")
    assert "Trained unweighted" in trained  # no amounts, said out loud
    assert "registered lead-scoring-bank-like version 1" in trained
    assert "won deals" in trained  # cut-offs in the data's own unit
    _ok("promote", "latest", "-c", str(config))
    rescored = _ok("rescore", "-c", str(config), "--as-of", "2026-01-01", "--workers", "1")
    assert "errors                0" in rescored
    with sqlite3.connect(tmp_path / "leads.db") as conn:
        rows = conn.execute(
            "SELECT COUNT(*), MIN(win_probability), MAX(win_probability) FROM lead_scores"
        ).fetchone()
    assert rows[0] == 3_000
    assert 0 < rows[1] < rows[2] < 1  # never exactly 0 or 1


def test_costs_in_dollars_without_amounts_stop_before_training(
    export: Path, tmp_path: Path
) -> None:
    config = tmp_path / "bank-like.yaml"
    config.write_text(BANK_LIKE_CONFIG.format(db=tmp_path / "leads.db", path=export))
    _ok("data", "import", "-c", str(config))
    result = runner.invoke(app, ["train", "-c", str(config), "--tune-thresholds"])
    assert result.exit_code == 2
    assert "costs.sdr_cost_per_mql" in result.output and "share" in result.output
    # without --tune-thresholds the costs do not matter and no study runs
    trained = _ok("train", "-c", str(config))
    assert "threshold study" not in trained and "Trained unweighted" in trained


SHAPES = {
    # shape: (writer, what training says about the weighting)
    "unquoted 0/1 target, amounts": (write_zero_one, "weighted by revenue"),
    "wins in a second table": (write_with_wins, "weighted by revenue"),
    "xlsx, Yes/No, no amounts": (write_xlsx, "unweighted (no amounts)"),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_export_shape_imports_trains_tunes_and_rescores(
    shape: str, tmp_path: Path, mlflow_store: str
) -> None:
    writer, weighting = SHAPES[shape]
    _, text = writer(tmp_path)
    config = tmp_path / "source.yaml"
    config.write_text(text)
    imported = _ok("data", "import", "-c", str(config))
    assert "2,000" in imported
    summary = _ok("data", "summary", "-c", str(config))
    assert "leak suspect" not in summary
    trained = _ok("train", "-c", str(config), "--tune-thresholds", "--trials", "30")
    assert weighting in trained
    name = yaml.safe_load(text)["name"]
    assert f"registered lead-scoring-{name} version 1" in trained
    _ok("promote", "latest", "-c", str(config))
    rescored = _ok("rescore", "-c", str(config), "--as-of", "2025-07-01", "--workers", "1")
    assert "errors                0" in rescored
    with sqlite3.connect(tmp_path / "leads.db") as conn:
        count, low, high = conn.execute(
            "SELECT COUNT(*), MIN(win_probability), MAX(win_probability) FROM lead_scores"
        ).fetchone()
    assert count == 2_000 and 0 < low < high < 1
