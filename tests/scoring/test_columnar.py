"""Columnar event reads (ADBC, SQLite): the arrays the DBAPI path gives, or no answer at all."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.columnar import read_text_columns
from scoring.config import Config
from scoring.database import EVENT_COLUMNS, event_columns, fetch_rows
from scoring.rescore_read import columns
from scoring.validation import check_events

pytest.importorskip("adbc_driver_sqlite", reason="the columnar path needs adbc-driver-sqlite")

PLAIN = [
    ("L1", "web_visit", "2025-01-02 10:00:00"),
    ("L1", "Pricing Page Visit", "2025-01-03T11:30:00.25"),
    (" L2 ", "demo_request", "2025-01-04 09:15:00.123456"),
    ("L2", "webinar", None),  # not a configured type; no time
    (None, "web_visit", "2025-01-05 00:00:00"),  # no lead id
    ("L3", None, "2025-01-06 00:00:00"),
]


def _database(path: Path, rows: list[tuple]) -> sa.Engine:
    with sqlite3.connect(path) as conn:
        conn.execute(
            # no declared type for the lead id: a CRM export may store numbers there
            "create table activities (event_id integer primary key, lead_id, "
            "event_type text, occurred_at timestamp)"
        )
        conn.executemany(
            "insert into activities (lead_id, event_type, occurred_at) values (?, ?, ?)", rows
        )
    return sa.create_engine(f"sqlite:///{path}")


def _both(cfg: Config, engine: sa.Engine) -> tuple[list[np.ndarray] | None, dict]:
    ev = event_columns(cfg, engine)
    query = sa.select(ev.lead_id, ev.type, ev.timestamp).order_by(ev.lead_id, ev.timestamp)
    fast = read_text_columns(engine, [query], 2)
    with engine.connect() as conn:
        slow = columns(EVENT_COLUMNS, fetch_rows(conn, query))
    return fast, slow


def _same_validation(cfg: Config, fast: list[np.ndarray], slow: dict) -> None:
    got, got_problems, got_ids = check_events(cfg, dict(zip(EVENT_COLUMNS, fast, strict=True)))
    want, want_problems, want_ids = check_events(cfg, slow)
    for name in want:
        assert got[name].tolist() == want[name].tolist(), name
    assert got_ids.tolist() == want_ids.tolist()
    assert got_problems.messages() == want_problems.messages()


def test_text_events_read_as_the_dbapi_reads_them(tmp_path: Path, tiny_config: Config) -> None:
    # given events with spaced, missing and unknown values, and plain ISO times
    engine = _database(tmp_path / "leads.db", PLAIN)
    # when they are read both ways
    fast, slow = _both(tiny_config, engine)
    # then text is the same objects' values, times are parsed, validation agrees row for row
    assert fast is not None
    assert fast[0].tolist() == slow["lead_id"].tolist()
    assert fast[1].tolist() == slow["event_type"].tolist()
    assert fast[2].dtype == np.dtype("datetime64[us]")
    expected = pd.to_datetime(pd.Series(slow["occurred_at"]), format="ISO8601")
    assert fast[2].tolist() == expected.to_numpy(dtype="datetime64[us]").tolist()
    _same_validation(tiny_config, fast, slow)


@pytest.mark.parametrize(
    "odd_time", ["2025-01-02T10:00:00+02:00", "2025-02-30 10:00:00", "02/01/2025", "  "]
)
def test_times_in_other_forms_are_left_as_text_for_validation(
    tmp_path: Path, tiny_config: Config, odd_time: str
) -> None:
    # given one time that is not plain ISO (an offset, no such day, another format, a blank)
    engine = _database(tmp_path / "leads.db", [*PLAIN, ("L4", "web_visit", odd_time)])
    # when read both ways
    fast, slow = _both(tiny_config, engine)
    # then the times stay text, exactly as the DBAPI gives them, and validation agrees
    assert fast is not None
    assert fast[2].dtype == object
    assert fast[2].tolist() == slow["occurred_at"].tolist()
    _same_validation(tiny_config, fast, slow)


@pytest.mark.parametrize(
    "row",
    [("L5", "web_visit", 1735689600), (5.0, "web_visit", None), (b"L6", "web_visit", None)],
)
def test_a_value_stored_as_a_number_or_blob_gets_no_columnar_answer(
    tmp_path: Path, tiny_config: Config, row: tuple
) -> None:
    # given a number or a blob stored in a time or id column (ADBC would make text of it)
    engine = _database(tmp_path / "leads.db", [*PLAIN, row])
    # when read the columnar way
    fast, _ = _both(tiny_config, engine)
    # then there is no answer: the caller reads the DBAPI way
    assert fast is None


def test_events_without_any_time_read_as_missing_times(tmp_path: Path, tiny_config: Config) -> None:
    # given events none of which has a time
    engine = _database(tmp_path / "leads.db", [(i, t, None) for i, t, _ in PLAIN])
    # when read both ways
    fast, slow = _both(tiny_config, engine)
    # then every time is missing and validation reports each the same way
    assert fast is not None
    assert np.isnat(fast[2]).all()
    _same_validation(tiny_config, fast, slow)


def test_text_after_a_first_batch_of_nulls_gets_no_columnar_answer(
    tmp_path: Path, tiny_config: Config
) -> None:
    # given more leading events without a time than the driver looks at to type the column
    rows = [("A1", "web_visit", None)] * 1500 + [("B1", "web_visit", "2025-01-02 10:00:00")]
    engine = _database(tmp_path / "leads.db", rows)
    # when read the columnar way, then there is no answer (the driver typed the column int64)
    fast, slow = _both(tiny_config, engine)
    assert fast is None and len(slow["lead_id"]) == len(rows)


def test_a_replaced_database_file_is_read_anew(tmp_path: Path, tiny_config: Config) -> None:
    # given a database read once, then replaced by another file at the same path
    path = tmp_path / "leads.db"
    first, _ = _both(tiny_config, _database(path, PLAIN))
    path.unlink()
    fast, slow = _both(tiny_config, _database(path, PLAIN[:2]))
    # then the new file's events are read, not those of the deleted one
    assert first is not None and fast is not None
    assert fast[0].tolist() == slow["lead_id"].tolist() == ["L1", "L1"]


def test_other_databases_get_no_columnar_answer(tiny_config: Config) -> None:
    engine = sa.create_engine("sqlite://")
    query = sa.select(sa.literal("L1"), sa.literal("web_visit"), sa.literal("2025-01-01"))
    assert read_text_columns(engine, [query], 2) is None
