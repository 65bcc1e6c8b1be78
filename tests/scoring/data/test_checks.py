"""The data check: profile, leak suspects, the base rate over time; and `leadscore init`."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from scoring.config import Config, load_config
from scoring.data.checks import check_data, without_suspects
from scoring.data.draft import draft, to_yaml
from scoring.data.files import import_files
from scoring.data.load import load_leads
from tests.fixtures.exports import BANK_LIKE_CONFIG, write_bank_like


@pytest.fixture
def bank_like(tmp_path: Path) -> tuple[Config, sa.Engine]:
    path = write_bank_like(tmp_path)
    config = tmp_path / "bank-like.yaml"
    config.write_text(BANK_LIKE_CONFIG.format(db=tmp_path / "leads.db", path=path))
    cfg = load_config(config)
    engine = sa.create_engine(cfg.source.database)
    import_files(cfg, engine)
    return cfg, engine


def test_the_check_names_the_leak_and_the_moving_base_rate(bank_like) -> None:
    cfg, engine = bank_like
    leads, rejects = load_leads(cfg, engine)
    assert rejects.empty and len(leads.meta) == 2_000
    check = check_data(cfg, leads)
    assert check.suspects == {"call_status"}
    assert "alone separates won from lost" in check.leaks[0].reason
    assert check.ordered_by == "leads.order_by"
    rates = [p.win_rate for p in check.periods]
    assert rates[-1] > 2 * rates[0] and check.base_rate_moved
    text = check.to_text()
    assert "leak suspect: call_status" in text and "the base rate moved" in text
    # "Select" is configured as missing: it is not a job, and not suggested again
    job = next(p for p in check.profiles if p.column == "job")
    assert "select" not in {v.lower() for v, _ in job.top} and not job.placeholders
    # training leaves the suspect out, unless the config keeps it
    assert [f.column for f in without_suspects(cfg, check).features.intent] == ["calls"]
    training = cfg.training.model_copy(update={"keep_suspects": ["call_status"]})
    kept = cfg.model_copy(update={"training": training})
    assert without_suspects(kept, check) is kept


def test_declared_leaks_are_reported_and_refused_as_features(bank_like, tmp_path: Path) -> None:
    cfg, engine = bank_like
    declared = cfg.model_copy(update={"leaks": {"duration": "known after the call"}})
    check = check_data(declared, load_leads(cfg, engine)[0])
    assert "duration" in check.suspects
    text = BANK_LIKE_CONFIG.format(db=tmp_path / "x.db", path=tmp_path / "x.csv")
    path = tmp_path / "leaky.yaml"
    path.write_text(text + "leaks:\n  calls: counted after the outcome\n")
    with pytest.raises(ValueError, match=r"\['calls'\] describe the outcome"):
        load_config(path)


def test_init_drafts_a_config_that_loads_and_comments_the_leak(tmp_path: Path) -> None:
    export = write_bank_like(tmp_path)
    found = draft(export)
    assert found.id is None and found.created_at is None and found.amount is None
    assert found.outcome == ("y", ["yes"], ["no"])
    assert ("call_status", "its name says it is set after contact") in found.leaks
    kinds = {column: kind for column, kind, _, _ in found.fields}
    assert kinds == {"age": "numeric", "job": "categorical", "calls": "numeric"}
    assert found.missing == ["select"]
    path = tmp_path / "draft.yaml"
    path.write_text(to_yaml(found, f"sqlite:///{tmp_path / 'leads.db'}"))
    cfg = load_config(path)
    assert cfg.leads.id == "lead_id" and cfg.source.files["leads"].id_column == "lead_id"
    assert "call_status" in cfg.leaks
    engine = sa.create_engine(cfg.source.database)
    assert import_files(cfg, engine) == {"leads": 2_000}
    leads, rejects = load_leads(cfg, engine)
    assert rejects.empty and leads.meta["label"].notna().all()


def test_init_finds_a_pipeline_stage_outcome_with_open_stages(tmp_path: Path) -> None:
    # given an opportunity export whose stage column also holds open stages (as Maven's does)
    stages = ["Won", "Lost", "Prospecting", "Engaging"]
    rows = [
        f"OP{i},{['GTX', 'MG'][i % 2]},{stages[i % 4]},2016-{i % 12 + 1:02d}-03,{100 + i}"
        for i in range(400)
    ]
    export = tmp_path / "pipeline.csv"
    export.write_text("opportunity_id,product,deal_stage,engage_date,close_value\n")
    with export.open("a") as out:
        out.write("\n".join(rows) + "\n")
    # when it is drafted
    found = draft(export)
    # then the stage is the outcome (the open stages are neither), and the engage date the start
    assert found.outcome == ("deal_stage", ["won"], ["lost"])
    assert found.created_at == "engage_date" and found.id == "opportunity_id"
    assert found.amount == "close_value"
    path = tmp_path / "draft.yaml"
    path.write_text(to_yaml(found, f"sqlite:///{tmp_path / 'leads.db'}"))
    cfg = load_config(path)
    engine = sa.create_engine(cfg.source.database)
    import_files(cfg, engine)
    leads, rejects = load_leads(cfg, engine)
    assert rejects.empty
    assert leads.meta["label"].value_counts().to_dict() == {1.0: 100, 0.0: 100}
