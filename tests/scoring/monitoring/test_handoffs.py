"""Handoffs and crossings (scoring/monitoring/handoffs.py) on the SLA tests' small database: the
activity that made each lead cross is the last configured event at or before its handoff, in
time order whatever text forms SQLite holds."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from scoring.config import Config
from scoring.data.database import event_columns
from scoring.monitoring.handoffs import _one_text_form, crossings, handoff_query
from tests.scoring.monitoring.sla_samples import write_database


def test_crossings_take_the_last_configured_event_before_the_handoff(
    sla_config: Config, sqlite_engine: sa.Engine
):
    write_database(sqlite_engine)
    found = crossings(sla_config, sqlite_engine).set_index("lead_id")["crossed_at"]
    assert found.to_dict() == {
        "L1": pd.Timestamp("2025-07-01 14:00"),
        "L2": pd.Timestamp("2025-07-02 18:00"),
        "L4": pd.Timestamp("2025-06-01 10:00"),
    }


def _add_events(engine: sa.Engine, rows: list[tuple[str, str, str]]) -> None:
    """Events with their times as raw text, as another writer would store them in SQLite."""
    insert = sa.text("INSERT INTO activities VALUES (:lead, :kind, :at)")
    with engine.begin() as conn:
        conn.execute(insert, [{"lead": lead, "kind": kind, "at": at} for lead, kind, at in rows])


def test_crossings_compare_times_not_texts(sla_config: Config, sqlite_engine: sa.Engine):
    write_database(sqlite_engine)
    _add_events(
        sqlite_engine,
        [
            ("L1", "pricing_page", "2025-07-01T14:30:00Z"),  # before the 15:00 handoff
            ("L2", "pricing_page", "2025-07-03 21:30:00+02:00"),  # 19:30, before 20:00
            ("L4", "web_visit", "2025-06-02 11:00:00-04:00"),  # 15:00, after 13:00
        ],
    )
    found = crossings(sla_config, sqlite_engine).set_index("lead_id")["crossed_at"]
    assert found.to_dict() == {
        "L1": pd.Timestamp("2025-07-01 14:30"),
        "L2": pd.Timestamp("2025-07-03 19:30"),
        "L4": pd.Timestamp("2025-06-01 10:00"),
    }


def test_times_of_one_text_form_are_compared_as_text(sla_config: Config, sqlite_engine: sa.Engine):
    write_database(sqlite_engine)
    events = event_columns(sla_config, sqlite_engine)

    def one_form() -> bool:
        handed = handoff_query(sla_config, sqlite_engine).subquery("handoff")
        return _one_text_form(sqlite_engine, events, handed)

    assert one_form()
    _add_events(sqlite_engine, [("L8", "web_visit", "2025-06-01 10:00:00")])  # no fraction
    assert not one_form()
