"""The small hand-made lead database of the SLA and handoff tests: eight leads, their activity
and the sales feedback, with the config that reads them. The calendar is New York's (EDT, UTC-4,
in June and July), Monday to Friday 09:00-17:00, with 2025-07-04 (a Friday) off; `NOW` is
2025-07-10 12:00 UTC (Thursday 08:00 EDT). Every time below is UTC."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from scoring.feedback.table import create as create_feedback

NOW = "2025-07-10T12:00"
CONFIG = """
name: sla-test
source: {database: "sqlite:///unused.db"}
leads:
  table: leads
  id: lead_id
  funnel: {mql: mql_at, sal: sal_at, sql: sql_at}
features:
  fit:
    - {column: title, kind: categorical}
events:
  table: activities
  lead_id: lead_id
  type: event_type
  timestamp: occurred_at
  types: [web_visit, pricing_page, demo_request]
sla:
  calendar: {timezone: America/New_York, holidays: [2025-07-04]}
  mql_delivery_hours: 24
  first_touch_business_hours: 4
  min_attempts: 3
  attempts_within_days: 7
  sal_to_sql_days: 14
  recent_days: 30
"""

LEADS = [  # lead, mql_at, sal_at, sql_at
    ("L1", "2025-07-01 15:00", "2025-07-03 15:00", None),
    ("L2", "2025-07-03 20:00", None, None),
    ("L3", "2025-07-07 13:00", None, None),
    ("L4", "2025-06-02 13:00", None, None),
    ("L5", "2025-06-10 13:00", "2025-06-12 13:00", None),
    ("L6", "2025-07-11 13:00", None, None),  # handed over after now: no clock yet
    ("L7", "2025-06-20 13:00", None, "2025-07-09 13:00"),
    ("L8", None, None, None),  # never handed over
]
EVENTS = [
    ("L1", "web_visit", "2025-07-01 13:00"),
    ("L1", "demo_request", "2025-07-01 14:00"),  # made it cross
    ("L1", "web_visit", "2025-07-02 10:00"),  # after the handoff
    ("L2", "web_visit", "2025-07-02 18:00"),
    ("L4", "pricing_page", "2025-06-01 10:00"),
    ("L4", "newsletter", "2025-06-02 12:00"),  # not an event type of the config
    ("L8", "web_visit", "2025-06-01 10:00"),
]
FEEDBACK = [  # lead, kind, occurred_at
    ("L1", "contact_attempt", "2025-07-01 17:30"),
    ("L1", "contact_attempt", "2025-07-02 14:00"),
    ("L1", "contact_attempt", "2025-07-03 14:00"),
    ("L1", "sdr_accepted", "2025-07-03 15:00"),
    ("L1", "ae_accepted", "2025-07-08 15:00"),
    ("L2", "contact_attempt", "2025-07-07 18:00"),
    ("L3", "contact_attempt", "2025-07-10 13:00"),  # after now: not yet
    ("L4", "sdr_rejected", "2025-06-02 14:00"),
    ("L5", "contact_attempt", "2025-06-10 14:00"),
    ("L6", "sdr_accepted", "2025-07-12 13:00"),  # after now
    ("L7", "contact_attempt", "2025-06-20 13:30"),
    ("L7", "contact_attempt", "2025-06-21 13:00"),
    ("L7", "sdr_accepted", "2025-06-23 13:00"),  # decided before a third attempt
]

# (lead, rule): started, due, met, state, took (hours; business hours for first_touch), late


def write_database(engine: sa.Engine, feedback: bool = True) -> None:
    def frame(rows: list[tuple], columns: list[str], times: list[str]) -> pd.DataFrame:
        out = pd.DataFrame(rows, columns=columns)
        for column in times:  # real times: TIMESTAMP on PostgreSQL, ISO text on SQLite
            out[column] = pd.to_datetime(out[column])
        return out

    leads = frame(LEADS, ["lead_id", "mql_at", "sal_at", "sql_at"], ["mql_at", "sal_at", "sql_at"])
    leads["title"] = "VP Sales"
    leads.to_sql("leads", engine, index=False)
    frame(EVENTS, ["lead_id", "event_type", "occurred_at"], ["occurred_at"]).to_sql(
        "activities", engine, index=False
    )
    if not feedback:
        return
    table = create_feedback(engine).feedback
    rows = [
        {
            "feedback_id": f"f{i}",
            "lead_id": lead,
            "kind": kind,
            "occurred_at": pd.Timestamp(at).to_pydatetime(),
            "origin": "api",
            "digest": "x",
            "recorded_at": pd.Timestamp(at).to_pydatetime(),
        }
        for i, (lead, kind, at) in enumerate(FEEDBACK)
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
