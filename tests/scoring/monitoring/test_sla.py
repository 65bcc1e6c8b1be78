"""SLA clocks on a small hand-made lead database: each rule's states, the breach list, the
summary, the first-touch histogram, handoffs from the stage history, and `leadscore sla`. The
database, its calendar and `now` are in sla_samples.py; every time below is UTC.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.batch.tables import define as batch_tables
from scoring.cli.main import app
from scoring.config import Config, ConfigError
from scoring.feedback.table import create as create_feedback
from scoring.monitoring.handoffs import handoffs
from scoring.monitoring.sla import (
    COLUMNS,
    FIRST_TOUCH_BUCKETS,
    breaches,
    first_touch_hours,
    histogram,
    sla_clocks,
    summary,
)
from tests.scoring.monitoring.sla_samples import CONFIG, NOW, write_database

EXPECTED = {
    ("L1", "mql_delivery"): ("07-01 14:00", "07-02 14:00", "07-01 15:00", "met", 1, None),
    ("L1", "first_touch"): ("07-01 15:00", "07-01 19:00", "07-01 17:30", "met", 2.5, None),
    ("L1", "contact_attempts"): ("07-01 15:00", "07-08 15:00", "07-03 14:00", "met", 47, None),
    ("L1", "sal_to_sql"): ("07-03 15:00", "07-17 15:00", "07-08 15:00", "met", 120, None),
    ("L2", "mql_delivery"): ("07-02 18:00", "07-03 18:00", "07-03 20:00", "breached", 26, 2),
    # Thursday 16:00 EDT + 4 business hours: 1 on Thursday, the 4th off, 3 on Monday
    ("L2", "first_touch"): ("07-03 20:00", "07-07 16:00", "07-07 18:00", "breached", 6, 2),
    ("L2", "contact_attempts"): ("07-03 20:00", "07-10 20:00", None, "open", None, None),
    # overdue since Monday 13:00 EDT: 4 + 8 + 8 business hours to Thursday 08:00 EDT
    ("L3", "first_touch"): ("07-07 13:00", "07-07 17:00", None, "overdue", None, 20),
    ("L3", "contact_attempts"): ("07-07 13:00", "07-14 13:00", None, "open", None, None),
    ("L4", "mql_delivery"): ("06-01 10:00", "06-02 10:00", "06-02 13:00", "breached", 27, 3),
    ("L4", "first_touch"): ("06-02 13:00", "06-02 17:00", "06-02 14:00", "met", 1, None),
    ("L4", "contact_attempts"): ("06-02 13:00", "06-09 13:00", "06-02 14:00", "met", 1, None),
    ("L5", "first_touch"): ("06-10 13:00", "06-10 17:00", "06-10 14:00", "met", 1, None),
    ("L5", "contact_attempts"): ("06-10 13:00", "06-17 13:00", None, "overdue", None, 551),
    ("L5", "sal_to_sql"): ("06-12 13:00", "06-26 13:00", None, "overdue", None, 335),
    ("L7", "first_touch"): ("06-20 13:00", "06-20 17:00", "06-20 13:30", "met", 0.5, None),
    ("L7", "contact_attempts"): ("06-20 13:00", "06-27 13:00", "06-23 13:00", "met", 72, None),
    ("L7", "sal_to_sql"): ("06-23 13:00", "07-07 13:00", "07-09 13:00", "breached", 384, 48),
}


def _time(text: str | None) -> pd.Timestamp:
    return pd.Timestamp(f"2025-{text}") if text else pd.NaT


def _row(clocks: pd.DataFrame, lead: str, rule: str) -> pd.Series:
    found = clocks[(clocks["lead_id"] == lead) & (clocks["rule"] == rule)]
    assert len(found) == 1, (lead, rule)
    return found.iloc[0]


def test_every_rule_and_state(sla_config: Config, any_engine: sa.Engine):
    write_database(any_engine)
    clocks = sla_clocks(sla_config, any_engine, NOW)
    assert tuple(clocks.columns) == COLUMNS
    assert sorted(zip(clocks["lead_id"], clocks["rule"], strict=True)) == sorted(EXPECTED)
    for (lead, rule), (start, due, met, state, took, late) in EXPECTED.items():
        row = _row(clocks, lead, rule)
        got = [row[c] for c in ("started_at", "due_at", "met_at", "state", "took_hours")]
        got.append(row["late_hours"])
        want = [_time(start), _time(due), _time(met), state, took, late]
        for column, value, expected in zip(COLUMNS[5:11], got, want, strict=True):
            if expected is None or expected is pd.NaT:
                assert pd.isna(value), (lead, rule, column, value)
            elif isinstance(expected, float | int):
                assert value == pytest.approx(expected), (lead, rule, column, value)
            else:
                assert value == expected, (lead, rule, column, value)
        assert row["unit"] == ("business_hours" if rule == "first_touch" else "hours")
    owners = clocks.drop_duplicates("rule").set_index("rule")[["owner", "team", "stage"]]
    assert owners.loc["mql_delivery"].tolist() == ["marketing", "marketing", "lead->mql"]
    assert owners.loc["first_touch"].tolist() == ["sales", "sdr", "mql"]
    assert owners.loc["contact_attempts"].tolist() == ["sales", "sdr", "mql"]
    assert owners.loc["sal_to_sql"].tolist() == ["sales", "ae", "sal"]


def test_breaches_summary_and_histogram(sla_config: Config, sqlite_engine: sa.Engine):
    write_database(sqlite_engine)
    clocks = sla_clocks(sla_config, sqlite_engine, NOW)
    listed = breaches(clocks, NOW, recent_days=30)
    assert list(zip(listed["lead_id"], listed["rule"], listed["state"], strict=True)) == [
        ("L5", "contact_attempts", "overdue"),
        ("L5", "sal_to_sql", "overdue"),
        ("L3", "first_touch", "overdue"),
        ("L2", "mql_delivery", "breached"),
        ("L7", "sal_to_sql", "breached"),
        ("L2", "first_touch", "breached"),
    ]  # L4's late delivery was due on 2025-06-02: more than 30 days ago
    assert len(breaches(clocks, NOW, recent_days=60)) == 7

    table = summary(clocks).set_index("rule")
    counts = table[["met", "breached", "open", "overdue", "clocks"]]
    assert counts.loc["mql_delivery"].tolist() == [1, 2, 0, 0, 3]
    assert counts.loc["first_touch"].tolist() == [4, 1, 0, 1, 6]
    assert counts.loc["contact_attempts"].tolist() == [3, 0, 2, 1, 6]
    assert counts.loc["sal_to_sql"].tolist() == [1, 1, 0, 1, 3]
    assert table["breach_rate"].tolist() == pytest.approx([2 / 3, 2 / 6, 1 / 4, 2 / 3])
    assert table.loc["first_touch", "team"] == "sdr"

    hours = first_touch_hours(clocks)
    assert sorted(hours) == [0.5, 1, 1, 2.5, 6]
    found = histogram(hours)
    assert found.bounds == (*FIRST_TOUCH_BUCKETS, float("inf"))
    assert found.counts == (0, 0, 1, 3, 3, 4, 5, 5, 5, 5, 5)
    assert (found.total, found.count) == (11.0, 5)


def test_clocks_as_they_stood_earlier(sla_config: Config, sqlite_engine: sa.Engine):
    write_database(sqlite_engine)
    # Tuesday 2025-07-01 13:00 EDT: L1 handed over two hours ago, not touched yet
    clocks = sla_clocks(sla_config, sqlite_engine, "2025-07-01T17:00")
    mine = clocks[clocks["lead_id"] == "L1"].set_index("rule")
    assert mine["state"].astype(str).to_dict() == {
        "mql_delivery": "met",
        "first_touch": "open",
        "contact_attempts": "open",
    }  # no sal_to_sql clock: accepted on 07-03
    assert set(clocks["lead_id"]) == {"L1", "L4", "L5", "L7"}
    sal = clocks[clocks["rule"] == "sal_to_sql"].set_index("lead_id")["state"]
    assert sal.astype(str).to_dict() == {"L5": "overdue", "L7": "open"}  # L7's SQL: 07-09


def test_rules_set_to_null_and_no_events(sla_config: Config, sqlite_engine: sa.Engine):
    write_database(sqlite_engine, feedback=False)  # no lead_feedback table yet
    sla = sla_config.sla.model_copy(update={"first_touch_business_hours": None})
    cfg = sla_config.model_copy(update={"sla": sla, "events": None})
    clocks = sla_clocks(cfg, sqlite_engine, NOW)
    assert set(clocks["rule"].astype(str)) == {"contact_attempts", "sal_to_sql"}
    # without feedback, every attempts clock runs; the funnel's SAL times start SAL clocks
    attempts = clocks[clocks["rule"] == "contact_attempts"].set_index("lead_id")["state"]
    assert attempts.astype(str).to_dict() == {
        "L1": "overdue",
        "L2": "open",
        "L3": "open",
        "L4": "overdue",
        "L5": "overdue",
        "L7": "overdue",
    }
    sal = clocks[clocks["rule"] == "sal_to_sql"].set_index("lead_id")
    assert sal["started_at"].to_dict() == {
        "L1": pd.Timestamp("2025-07-03 15:00"),
        "L5": pd.Timestamp("2025-06-12 13:00"),
    }
    assert summary(clocks, ("contact_attempts",))["clocks"].tolist() == [6]


def test_handoffs_from_the_stage_history_without_a_funnel(
    sla_config: Config, sqlite_engine: sa.Engine
):
    leads = sla_config.leads.model_copy(update={"funnel": {}})
    cfg = sla_config.model_copy(update={"leads": leads})
    write_database(sqlite_engine)
    with pytest.raises(ConfigError, match=r"leads\.funnel: .*lead_stage_history"):
        handoffs(cfg, sqlite_engine)
    history = batch_tables().history
    history.create(sqlite_engine)

    def move(lead: str, was: str | None, to: str, direction: str, at: str) -> dict:
        return {
            "lead_id": lead,
            "from_stage": was,
            "to_stage": to,
            "direction": direction,
            "changed_at": pd.Timestamp(at).to_pydatetime(),
            "win_probability": 0.1,
            "model_version": "v1",
            "run_id": 1,
        }

    with sqlite_engine.begin() as conn:
        conn.execute(
            history.insert(),
            [
                move("L1", None, "nurture", "new", "2025-07-01 12:00"),
                move("L1", "nurture", "mql", "up", "2025-07-02 14:00"),
                move("L1", "mql", "sql", "up", "2025-07-03 14:00"),
                move("L1", "sql", "mql", "down", "2025-07-04 14:00"),
                move("L2", None, "sql", "new", "2025-07-05 14:00"),
                move("L3", None, "nurture", "new", "2025-07-05 14:00"),
            ],
        )
    found = handoffs(cfg, sqlite_engine).set_index("lead_id")["handed_at"]
    assert found.to_dict() == {
        "L1": pd.Timestamp("2025-07-02 14:00"),
        "L2": pd.Timestamp("2025-07-05 14:00"),
    }
    clocks = sla_clocks(cfg, sqlite_engine, NOW)
    touch = _row(clocks, "L1", "first_touch")
    # Wednesday 10:00 EDT + 4 business hours; L1's contact at 07-02 14:00 is the handoff itself
    assert (touch["due_at"], touch["met_at"]) == (
        pd.Timestamp("2025-07-02 18:00"),
        pd.Timestamp("2025-07-02 14:00"),
    )
    assert _row(clocks, "L1", "mql_delivery")["started_at"] == pd.Timestamp("2025-07-02 10:00")


# ---------------------------------------------------------------- the command


def _cli_setup(tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    engine = sa.create_engine(url)
    write_database(engine)
    engine.dispose()
    path = tmp_path / "sla.yaml"
    path.write_text(CONFIG)
    return path, url


def test_command_lists_breaches_as_json(tmp_path: Path):
    path, url = _cli_setup(tmp_path)
    as_of = "2025-07-10T08:00:00-04:00"  # the same instant as NOW
    args = ["sla", "--config", str(path), "--db", url, "--as-of", as_of, "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["as_of"] == "2025-07-10T12:00:00"
    assert out["listed"] == "breaches"
    rows = [(c["lead_id"], c["rule"], c["state"], c["late_hours"]) for c in out["clocks"]]
    assert rows == [
        ("L5", "contact_attempts", "overdue", 551.0),
        ("L5", "sal_to_sql", "overdue", 335.0),
        ("L3", "first_touch", "overdue", 20.0),
        ("L2", "mql_delivery", "breached", 2.0),
        ("L7", "sal_to_sql", "breached", 48.0),
        ("L2", "first_touch", "breached", 2.0),
    ]
    first = out["clocks"][2]
    assert first["owner"] == "sales" and first["team"] == "sdr" and first["stage"] == "mql"
    assert first["due_at"] == "2025-07-07T17:00:00" and first["met_at"] is None
    assert first["unit"] == "business_hours"
    rates = {s["rule"]: (s["clocks"], s["breached"] + s["overdue"]) for s in out["summary"]}
    assert rates == {
        "mql_delivery": (3, 2),
        "first_touch": (6, 2),
        "contact_attempts": (6, 1),
        "sal_to_sql": (3, 2),
    }

    everything = CliRunner().invoke(app, [*args, "--all"])
    assert everything.exit_code == 0, everything.output
    assert len(json.loads(everything.stdout)["clocks"]) == len(EXPECTED)


def test_command_csv_and_table(tmp_path: Path):
    path, url = _cli_setup(tmp_path)
    args = ["sla", "--config", str(path), "--db", url, "--as-of", NOW]
    result = CliRunner().invoke(app, [*args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split(",") == list(COLUMNS)
    assert len(lines) == 1 + 6
    assert lines[3].startswith("L3,first_touch,sales,sdr,mql,2025-07-07T13:00:00,")

    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "first_touch" in table.stdout and "20.0 business h" in table.stdout
    assert "first_touch (sales/sdr, mql): 6 clocks: 4 met, 1 breached, 0 open, 1 overdue" in (
        table.stdout
    )


def test_command_errors_name_the_config_key(tmp_path: Path):
    path, url = _cli_setup(tmp_path)
    path.write_text(CONFIG.replace("table: activities", "table: no_such_events"))
    result = CliRunner().invoke(app, ["sla", "--config", str(path), "--db", url, "--as-of", NOW])
    assert result.exit_code == 2
    assert "events.table" in result.stderr and "no_such_events" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

    path.write_text(CONFIG.replace("sql: sql_at", "sql: qualified_at"))
    result = CliRunner().invoke(app, ["sla", "--config", str(path), "--db", url])
    assert result.exit_code == 2 and "leads.funnel.sql" in result.stderr

    path.write_text(CONFIG)
    result = CliRunner().invoke(app, ["sla", "--config", str(path), "--db", url, "--as-of", "x"])
    assert result.exit_code == 2 and "--as-of" in result.stderr


def test_numeric_lead_ids(sla_config: Config, any_engine: sa.Engine):
    """Ids stored as numbers in the CRM's tables, as text in lead_feedback: the same leads."""
    leads = pd.DataFrame(
        {"lead_id": [7, 8], "title": "CFO", "mql_at": pd.to_datetime(["2025-07-07 13:00", None])}
    )
    leads["sal_at"] = leads["sql_at"] = pd.NaT
    leads.to_sql("leads", any_engine, index=False)
    events = pd.DataFrame(
        {"lead_id": [7, 8], "event_type": "pricing_page", "occurred_at": ["2025-07-07 12:00"] * 2}
    )
    events.assign(occurred_at=pd.to_datetime(events["occurred_at"])).to_sql(
        "activities", any_engine, index=False
    )
    table = create_feedback(any_engine).feedback
    with any_engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {
                    "feedback_id": "a",
                    "lead_id": "7",
                    "kind": "contact_attempt",
                    "occurred_at": pd.Timestamp("2025-07-07 14:00").to_pydatetime(),
                    "origin": "api",
                    "digest": "x",
                    "recorded_at": pd.Timestamp("2025-07-07 14:00").to_pydatetime(),
                }
            ],
        )
    clocks = sla_clocks(sla_config, any_engine, NOW).set_index("rule")
    assert set(clocks["lead_id"]) == {"7"}
    assert clocks.loc["mql_delivery", "started_at"] == pd.Timestamp("2025-07-07 12:00")
    assert clocks.loc["first_touch", "met_at"] == pd.Timestamp("2025-07-07 14:00")
    assert clocks.loc["first_touch", "took_hours"] == 1.0
