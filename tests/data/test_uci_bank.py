"""The raw UCI bank-marketing export in ../shared, by configs/uci-bank.yaml alone: `;`-separated,
no id, yes/no target, no amounts, a leaking column, a base rate that moves 10x over the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from scoring.config import load_config
from scoring.data.files import import_files
from tests.conftest import REPO
from training.pipeline.run import run_training


@pytest.fixture
def bank(shared_datasets: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LEADSCORE_SHARED", str(shared_datasets.parent))
    cfg = load_config(REPO / "configs" / "uci-bank.yaml").with_database(
        f"sqlite:///{tmp_path / 'bank.db'}"
    )
    engine = sa.create_engine(cfg.source.database)
    assert import_files(cfg, engine) == {"contacts": 41_188}
    return cfg, engine


@pytest.mark.slow
def test_the_raw_bank_file_trains_with_the_leak_flagged(bank) -> None:
    cfg, engine = bank
    result = run_training(cfg, engine)
    check = result.check
    assert check is not None and "duration" in check.suspects
    assert check.ordered_by == "leads.order_by" and check.base_rate_moved
    assert "duration" not in {f.column for f in result.config.features.intent}
    assert result.weighting == "none (no amounts)"
    auc = {name: m["roc_auc"] for name, m in result.metrics.items()}
    # folds in the file's time order: the last fifth has 31% wins against 3-6% early on
    assert auc["combined"] >= auc["logistic_regression"]
    probabilities = result.predictions["combined"]
    assert probabilities.min() > 0 and probabilities.max() < 1
