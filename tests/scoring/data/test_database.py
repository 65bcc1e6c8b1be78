"""The lead database through SQLAlchemy, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from scoring.config import Config, ConfigError, load_config
from scoring.data.database import join_coverage, read_leads
from scoring.data.files import import_files, write_table
from scoring.data.load import load_events, load_leads
from scoring.data.rejects import REJECTS_TABLE, store_rejects
from tests.conftest import TINY_CONFIG, tiny_tables


def _fill(engine: sa.Engine) -> None:
    for name, frame in tiny_tables().items():
        write_table(frame, name, engine)


def _config(tmp_path: Path, **changes) -> Config:
    raw = yaml.safe_load(TINY_CONFIG)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = raw
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def test_leads_are_joined_to_accounts(any_engine: sa.Engine, tiny_config: Config) -> None:
    _fill(any_engine)
    leads, rejects = load_leads(tiny_config, any_engine)
    assert rejects.empty
    assert leads.inputs.loc["L1", "vertical"] == "Software"
    assert leads.inputs.loc["L1", "employees"] == 1200
    # L4's account A9 does not exist: its firmographics are missing, the lead is kept
    assert leads.inputs.loc["L4"].isna()["vertical"]
    coverage = join_coverage(tiny_config, any_engine)
    assert [(c.table, c.with_key, c.unmatched, c.examples) for c in coverage] == [
        ("accounts", 4, 1, ["A9"])
    ]


def test_events_are_read_with_canonical_names(any_engine: sa.Engine, tiny_config: Config) -> None:
    _fill(any_engine)
    events, rejects = load_events(tiny_config, any_engine)
    assert rejects.empty and events is not None
    assert list(events.columns) == ["lead_id", "event_type", "occurred_at"]
    assert (events["lead_id"] == "L1").sum() == 4


def test_chunked_reading_returns_every_lead_once(any_engine: sa.Engine, tiny_config) -> None:
    _fill(any_engine)
    chunks = list(read_leads(tiny_config, any_engine, chunk_rows=3))
    assert [len(c) for c in chunks] == [3, 1]
    assert pd.concat(chunks)["lead_id"].tolist() == ["L1", "L2", "L3", "L4"]


def test_identifiers_with_spaces_and_quotes_are_quoted(any_engine: sa.Engine, tmp_path) -> None:
    # given an export whose headers are not SQL identifiers
    frame = pd.DataFrame({"Lead ID": ["a", "b"], 'Job "Title"': ["CEO", "Intern"]})
    write_table(frame, "lead export; drop", any_engine)
    cfg = _config(
        tmp_path,
        leads={"table": "lead export; drop", "id": "Lead ID"},
        features={"fit": [{"column": 'Job "Title"', "kind": "job_title", "name": "title"}]},
        events=None,
    )
    leads, _ = load_leads(cfg, any_engine)
    assert leads.inputs['Job "Title"'].tolist() == ["CEO", "Intern"]


def test_missing_column_is_named_with_its_config_key(any_engine: sa.Engine, tmp_path) -> None:
    _fill(any_engine)
    cfg = _config(tmp_path, features__fit__1__column="industry")
    with pytest.raises(ConfigError) as err:
        load_leads(cfg, any_engine)
    assert "features.fit[1].column: column 'industry' is not available" in str(err.value)


def test_missing_table_is_named(any_engine: sa.Engine, tmp_path) -> None:
    cfg = _config(tmp_path, leads__table="contacts")
    with pytest.raises(ConfigError, match=r"leads\.table: table 'contacts' does not exist"):
        load_leads(cfg, any_engine)


def test_missing_event_column_is_named(any_engine: sa.Engine, tmp_path) -> None:
    _fill(any_engine)
    cfg = _config(tmp_path, events__timestamp="ts")
    with pytest.raises(ConfigError, match=r"events\.timestamp: column 'ts' is not in table"):
        load_events(cfg, any_engine)


def test_join_clash_asks_for_a_prefix(any_engine: sa.Engine, tmp_path) -> None:
    _fill(any_engine)
    write_table(pd.DataFrame({"account_id": ["A1"], "title": ["x"]}), "accounts", any_engine)
    cfg = _config(tmp_path)
    with pytest.raises(ConfigError, match=r"leads.joins\[0\]: column 'title' .* set `prefix:`"):
        load_leads(cfg, any_engine)


def test_rejects_are_kept_aside_and_replaced_on_recheck(any_engine: sa.Engine) -> None:
    rejects = pd.DataFrame(
        {"lead_id": ["L1", None], "fields": ["a", "b"], "reason": ["r1", "r2"], "row": ["{}", "{}"]}
    )
    store_rejects(any_engine, rejects, "tiny", "leads")
    store_rejects(any_engine, rejects.iloc[:1], "tiny", "leads")
    store_rejects(any_engine, rejects, "tiny", "activities")
    with any_engine.connect() as conn:
        kept = pd.read_sql(sa.text(f"SELECT * FROM {REJECTS_TABLE}"), conn)
    assert sorted(zip(kept["table_name"], kept["reason"], strict=True)) == [
        ("activities", "r1"),
        ("activities", "r2"),
        ("leads", "r1"),
    ]


def test_import_csv_and_parquet(any_engine: sa.Engine, tmp_path: Path) -> None:
    tables = tiny_tables()
    tables["leads"].to_csv(tmp_path / "leads.csv", index=False)
    tables["accounts"].to_parquet(tmp_path / "accounts.parquet")
    tables["activities"].to_csv(tmp_path / "activities.csv", index=False)
    cfg = _config(
        tmp_path,
        source={
            "database": "sqlite:///unused.db",
            "files": {
                "leads": "leads.csv",
                "accounts": "accounts.parquet",
                "activities": "activities.csv",
            },
        },
    )
    assert import_files(cfg, any_engine) == {"leads": 4, "accounts": 3, "activities": 7}
    leads, rejects = load_leads(cfg, any_engine)
    assert rejects.empty and len(leads.meta) == 4


def test_import_names_a_missing_file(sqlite_engine: sa.Engine, tmp_path: Path) -> None:
    cfg = _config(tmp_path, source={"files": {"leads": "nowhere.csv"}})
    with pytest.raises(ConfigError, match=r"source.files.leads: file .*nowhere.csv does not exist"):
        import_files(cfg, sqlite_engine)


WINS_CONFIG = {
    "name": "funnel",
    "leads": {
        "table": "mqls",
        "id": "mql_id",
        "created_at": "first_contact",
        "wins": {
            "table": "closed_deals",
            "lead_id": "mql_id",
            "won_at": "won_date",
            "amount": "revenue",
        },
    },
    "features": {"fit": [{"column": "origin", "kind": "categorical"}]},
}


def _funnel(engine: sa.Engine) -> None:
    mqls = pd.DataFrame(
        {
            "mql_id": ["a", "b", "c", "d"],
            "origin": ["ads", "seo", "ads", "email"],
            "first_contact": ["2024-01-01"] * 4,
        }
    )
    deals = pd.DataFrame(  # b closed twice; z is no lead of the table
        {
            "mql_id": ["b", "b", "d", "z"],
            "revenue": [10.0, 5.0, 7.0, 1.0],
            "won_date": ["2024-02-01", "2024-01-15", "2024-03-01", "2024-01-09"],
        }
    )
    write_table(mqls, "mqls", engine)
    write_table(deals, "closed_deals", engine)


def test_wins_are_the_leads_with_a_row_in_another_table(any_engine: sa.Engine) -> None:
    _funnel(any_engine)
    cfg = Config.model_validate(WINS_CONFIG)
    assert Config.model_validate(cfg.model_dump(mode="json")) == cfg  # a run's config reloads
    leads, rejects = load_leads(cfg, any_engine)
    meta = leads.meta.sort_index()
    assert rejects.empty
    assert meta["label"].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert meta.loc["b", "revenue"] == 15.0 and meta.loc["d", "revenue"] == 7.0  # summed
    assert str(meta.loc["b", "closed_at"].date()) == "2024-01-15"  # the earliest win
    assert meta.loc[["a", "c"], "closed_at"].isna().all()


def test_wins_matching_no_lead_name_the_key(any_engine: sa.Engine) -> None:
    _funnel(any_engine)
    raw = {**WINS_CONFIG, "leads": {**WINS_CONFIG["leads"]}}
    raw["leads"]["wins"] = {"table": "closed_deals", "lead_id": "revenue"}
    with pytest.raises(ConfigError, match=r"leads\.wins: no lead has a row in table"):
        load_leads(Config.model_validate(raw), any_engine)


def test_wins_and_an_outcome_column_are_one_too_many() -> None:
    raw = {**WINS_CONFIG, "leads": {**WINS_CONFIG["leads"]}}
    raw["leads"]["outcome"] = {"column": "status", "won": ["won"], "lost": ["lost"]}
    with pytest.raises(ValueError, match=r"either leads\.outcome"):
        Config.model_validate(raw)


def test_summary_counts_wins_that_match_no_lead(any_engine: sa.Engine) -> None:
    _funnel(any_engine)
    (coverage,) = join_coverage(Config.model_validate(WINS_CONFIG), any_engine)
    assert (coverage.table, coverage.with_key, coverage.unmatched) == ("closed_deals", 4, 1)
    assert coverage.wins and coverage.examples == ["z"]
