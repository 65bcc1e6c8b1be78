"""The real CRM export in ../shared (Maven Analytics CRM Sales Opportunities) loads from its
config alone and builds features. Skips with a message when ../shared is absent."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from scoring.config import load_config
from scoring.data.database import join_coverage
from scoring.data.files import import_files
from scoring.data.load import load_leads
from scoring.features import build_features, feature_spec
from tests.conftest import REPO


@pytest.fixture
def maven(shared_datasets: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LEADSCORE_SHARED", str(shared_datasets.parent))
    cfg = load_config(REPO / "configs" / "maven-crm.yaml").with_database(
        f"sqlite:///{tmp_path / 'maven.db'}"
    )
    engine = sa.create_engine(cfg.source.database)
    import_files(cfg, engine)
    return cfg, engine


def test_opportunities_load_with_outcomes(maven) -> None:
    cfg, engine = maven
    leads, rejects = load_leads(cfg, engine)
    assert rejects.empty
    assert len(leads.meta) == 8800
    label = leads.meta["label"]
    # Won / Lost deals are labels; Prospecting and Engaging deals are open, not labels
    assert (label == 1).sum() == 4238 and (label == 0).sum() == 2473 and label.isna().sum() == 2089
    assert leads.meta.loc[label == 1, "revenue"].gt(0).all()
    assert leads.meta["created_at"].min().year == 2016


def test_features_build_from_the_config_alone(maven) -> None:
    cfg, engine = maven
    leads, _ = load_leads(cfg, engine)
    as_of = leads.meta["created_at"].fillna(leads.meta["created_at"].max())
    frame = build_features(cfg, leads.inputs, None, as_of)
    assert list(frame.columns) == [f.name for f in feature_spec(cfg)]
    assert {f.group for f in feature_spec(cfg)} == {"fit"}  # the export has no intent signal
    assert frame["sector"].notna().mean() > 0.8
    assert set(frame["employees_band"].dropna()) <= {"<1k", "1k-5k", "5k-10k", "10k+"}


def test_product_names_that_do_not_join_are_reported(maven) -> None:
    # the export spells one product "GTXPro" in the pipeline and "GTX Pro" in products
    cfg, engine = maven
    products = next(c for c in join_coverage(cfg, engine) if c.table == "products")
    assert products.unmatched == 1480 and products.examples == ["GTXPro"]


def test_quality_gate_refuses_the_weak_export(maven) -> None:
    from training.pipeline.run import run_training

    cfg, engine = maven
    result = run_training(cfg, engine)
    assert not result.gate.passed
    assert result.gate.message.startswith("NOT registered:")
    assert result.metrics["combined"]["roc_auc_ci_low"] < 0.55
