"""`benchmarks/quality.py --export CONFIG`: a team's own export against the same peers, on
rolling time splits when its leads are in time order and stratified ones otherwise; a config
that does not load stops with a message naming it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO
from tests.fixtures.exports import BANK_LIKE_CONFIG, write_bank_like, write_zero_one

MODELS = {"project", "logistic_regression", "lightgbm_defaults", "naive_bayes"}


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(REPO / "benchmarks" / "quality.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO)


def _report(config: Path, out: Path, *args: str) -> dict:
    done = _bench("--export", str(config), "--json", str(out), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "project - best peer ROC AUC" in done.stdout
    return json.loads(out.read_text())[f"export {config}"]


@pytest.mark.slow
def test_an_export_with_dates_gets_rolling_time_splits_and_every_peer(tmp_path: Path) -> None:
    _, text = write_zero_one(tmp_path, rows=3_000)
    config = tmp_path / "zero-one.yaml"
    config.write_text(text)

    report = _report(config, tmp_path / "out.json")

    assert report["kind"].startswith("rolling-origin time splits")
    assert [s["split"] for s in report["splits"]] == ["[60%, 73%)", "[73%, 86%)", "[86%, 100%)"]
    for split in report["splits"]:
        assert set(split["metrics"]) == MODELS
        rows = split["rows"]
        assert 300 < rows["test"] < 500  # 13-14% of 3,000 leads, the later rows left out
        assert rows["train"] > rows["calibration"] > 0 and rows["validation"] > 0
    # the export has signal (interactions of source, size and visits): every split shows it
    assert min(s["metrics"]["project"]["roc_auc"] for s in report["splits"]) > 0.65
    # the import went to a scratch database: the config's own stays untouched
    assert not (tmp_path / "leads.db").exists()


@pytest.mark.slow
def test_the_split_can_be_forced_stratified(tmp_path: Path) -> None:
    export = write_bank_like(tmp_path, rows=3_000)
    config = tmp_path / "bank-like.yaml"
    config.write_text(BANK_LIKE_CONFIG.format(db=tmp_path / "leads.db", path=export))

    report = _report(
        config, tmp_path / "out.json", "--export-split", "stratified", "--export-seeds", "2"
    )

    assert report["kind"] == "2 stratified random splits, 20% test"
    assert [s["split"] for s in report["splits"]] == ["seed 7", "seed 11"]
    assert all(abs(s["rows"]["test"] - 600) <= 1 for s in report["splits"])  # 20%, per class


def test_a_missing_config_is_named(tmp_path: Path) -> None:
    done = _bench("--export", str(tmp_path / "nowhere.yaml"))
    assert done.returncode == 2
    assert f"--export {tmp_path / 'nowhere.yaml'}: no such config file" in done.stderr


def test_a_config_that_does_not_load_is_named_with_the_field(tmp_path: Path) -> None:
    _, text = write_zero_one(tmp_path, rows=300)
    config = tmp_path / "zero-one.yaml"
    config.write_text(text.replace("won: [1]", "won: [closed]"))
    done = _bench("--export", str(config))
    assert done.returncode == 1
    assert f"--export {config}: " in done.stderr and "leads.outcome.won" in done.stderr


def test_time_splits_need_leads_in_time_order(tmp_path: Path) -> None:
    export = write_bank_like(tmp_path, rows=300)
    config = tmp_path / "bank-like.yaml"
    text = BANK_LIKE_CONFIG.format(db=tmp_path / "leads.db", path=export)
    config.write_text(text.replace("  order_by: row\n", ""))
    done = _bench("--export", str(config), "--export-split", "time")
    assert done.returncode == 1
    assert "needs leads in time order: set leads.created_at or leads.order_by" in done.stderr


def test_a_split_without_a_win_to_judge_is_named(tmp_path: Path) -> None:
    path, text = write_zero_one(tmp_path, rows=300)
    leads = pd.read_csv(path)
    leads.loc[leads.index >= 150, "converted"] = 0  # nothing won in the later half
    leads.to_csv(path, index=False)
    config = tmp_path / "zero-one.yaml"
    config.write_text(text)
    done = _bench("--export", str(config))
    assert done.returncode == 1
    assert f"--export {config}: split [60%, 73%): need won and lost leads" in done.stderr
    assert "the test fold has 0 won and 39 lost" in done.stderr


def test_split_counts_must_be_positive(tmp_path: Path) -> None:
    done = _bench("--export", str(tmp_path / "any.yaml"), "--export-seeds", "0")
    assert done.returncode == 2 and "--export-seeds: 0: give a count of 1 or more" in done.stderr
