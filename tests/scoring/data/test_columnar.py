"""Columnar event reads (ADBC, SQLite): the arrays the DBAPI path gives, or no answer at all."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.batch.read import columns
from scoring.config import Config
from scoring.data.columnar import EventReader, event_reader
from scoring.data.database import EVENT_COLUMNS, event_columns
from scoring.data.sql import fetch_rows
from scoring.data.validation import check_events

pytest.importorskip("adbc_driver_sqlite", reason="the columnar path needs adbc-driver-sqlite")

PLAIN = [
    ("L1", "web_visit", "2025-01-02 10:00:00"),
    ("L1", "Pricing Page Visit", "2025-01-03T11:30:00.25"),
    (" L2 ", "demo_request", "2025-01-04 09:15:00.123456"),
    ("L2", "webinar", None),  # not a configured type; no time
    ("L3", None, "2025-01-06 00:00:00"),
]


@pytest.fixture
def readers() -> Iterator[list[EventReader]]:
    opened: list[EventReader] = []
    yield opened
    for reader in opened:
        reader.close()


def _database(path: Path, rows: list[tuple], id_type: str = "") -> sa.Engine:
    with sqlite3.connect(path) as conn:
        conn.execute(
            # no declared type for the lead id by default: a CRM export may store numbers there
            f"create table activities (event_id integer primary key, lead_id {id_type}, "
            "event_type text, occurred_at timestamp)"
        )
        conn.executemany(
            "insert into activities (lead_id, event_type, occurred_at) values (?, ?, ?)", rows
        )
    return sa.create_engine(f"sqlite:///{path}")


def _both(cfg: Config, engine: sa.Engine, readers: list[EventReader]) -> tuple[dict | None, dict]:
    ev = event_columns(cfg, engine)
    query = sa.select(ev.lead_id, ev.type, ev.timestamp).order_by(ev.lead_id, ev.timestamp)
    reader = event_reader(engine, ev)
    assert reader is not None
    readers.append(reader)
    with engine.connect() as conn:
        slow = columns(EVENT_COLUMNS, fetch_rows(conn, query))
    return reader.read([query]), slow


def _same_validation(cfg: Config, fast: dict, slow: dict) -> None:
    """Same events, same problems, and the same error-table rows (raw rows as JSON)."""
    got, got_problems, got_ids = check_events(cfg, fast)
    want, want_problems, want_ids = check_events(cfg, slow)
    for name in want:
        assert got[name].tolist() == want[name].tolist(), name
    assert got_ids.tolist() == want_ids.tolist()
    assert got_problems.messages() == want_problems.messages()
    got_rejects = got_problems.rejects(fast, got_ids)
    assert got_rejects.equals(want_problems.rejects(slow, want_ids))


def test_text_events_read_as_the_dbapi_reads_them(
    tmp_path: Path, tiny_config: Config, readers: list[EventReader]
) -> None:
    # given events with spaced, missing and unknown values, and plain ISO times
    engine = _database(tmp_path / "leads.db", PLAIN)
    # when they are read both ways
    fast, slow = _both(tiny_config, engine, readers)
    # then text is the same values, times are parsed, validation agrees row for row
    assert fast is not None
    assert fast["lead_id"].tolist() == slow["lead_id"].tolist()
    assert fast["event_type"].tolist() == slow["event_type"].tolist()
    assert fast["occurred_at"].dtype == np.dtype("datetime64[us]")
    expected = pd.to_datetime(pd.Series(slow["occurred_at"]), format="ISO8601")
    assert fast["occurred_at"].tolist() == expected.to_numpy(dtype="datetime64[us]").tolist()
    _same_validation(tiny_config, fast, slow)


@pytest.mark.parametrize("blank_id", [None, "", "  "])
def test_events_without_a_lead_id_keep_their_times_as_text_for_the_error_table(
    tmp_path: Path, tiny_config: Config, readers: list[EventReader], blank_id: str | None
) -> None:
    # given an event without a lead id among plain ones (it goes to the error table as read)
    engine = _database(
        tmp_path / "leads.db", [*PLAIN, (blank_id, "web_visit", "2025-01-05T10:00:00.5")]
    )
    # when read both ways
    fast, slow = _both(tiny_config, engine, readers)
    # then the times stay text and the error rows are the same, raw times included
    assert fast is not None
    assert fast["occurred_at"].tolist() == slow["occurred_at"].tolist()
    _same_validation(tiny_config, fast, slow)


@pytest.mark.parametrize(
    "odd_time", ["2025-01-02T10:00:00+02:00", "2025-02-30 10:00:00", "02/01/2025", "  "]
)
def test_times_in_other_forms_are_left_as_text_for_validation(
    tmp_path: Path, tiny_config: Config, readers: list[EventReader], odd_time: str
) -> None:
    # given one time that is not plain ISO (an offset, no such day, another format, a blank)
    engine = _database(tmp_path / "leads.db", [*PLAIN, ("L4", "web_visit", odd_time)])
    # when read both ways
    fast, slow = _both(tiny_config, engine, readers)
    # then the times stay text, exactly as the DBAPI gives them, and validation agrees
    assert fast is not None
    assert fast["occurred_at"].dtype == object
    assert fast["occurred_at"].tolist() == slow["occurred_at"].tolist()
    _same_validation(tiny_config, fast, slow)


@pytest.mark.parametrize(
    "row",
    [("L5", "web_visit", 1735689600), (5.0, "web_visit", None), (b"L6", "web_visit", None)],
)
def test_a_value_stored_as_a_number_or_blob_gets_no_columnar_answer(
    tmp_path: Path, tiny_config: Config, readers: list[EventReader], row: tuple
) -> None:
    # given a number or a blob stored in a time or id column (ADBC would make text of it)
    engine = _database(tmp_path / "leads.db", [*PLAIN, row])
    # when read the columnar way
    fast, _ = _both(tiny_config, engine, readers)
    # then there is no answer: the caller reads the DBAPI way
    assert fast is None


def test_events_without_any_time_read_as_missing_times(
    tmp_path: Path, tiny_config: Config, readers: list[EventReader]
) -> None:
    # given events none of which has a time
    engine = _database(tmp_path / "leads.db", [(i, t, None) for i, t, _ in PLAIN])
    # when read both ways
    fast, slow = _both(tiny_config, engine, readers)
    # then every time is missing and validation reports each the same way
    assert fast is not None
    assert np.isnat(fast["occurred_at"]).all()
    _same_validation(tiny_config, fast, slow)


def test_text_after_a_first_batch_of_nulls_gets_no_columnar_answer(
    tmp_path: Path, tiny_config: Config, readers: list[EventReader]
) -> None:
    # given more leading events without a time than the driver looks at to type the column
    rows = [("A1", "web_visit", None)] * 1500 + [("B1", "web_visit", "2025-01-02 10:00:00")]
    engine = _database(tmp_path / "leads.db", rows)
    # when read the columnar way, then there is no answer (the driver typed the column int64)
    fast, slow = _both(tiny_config, engine, readers)
    assert fast is None and len(slow["lead_id"]) == len(rows)


def test_no_reader_for_other_databases_or_ids_declared_as_numbers(
    tmp_path: Path, tiny_config: Config
) -> None:
    # an in-memory database, and lead ids declared integer (every read would fall back)
    memory = sa.create_engine("sqlite://")
    numbers = _database(tmp_path / "numbers.db", [(1, "web_visit", None)], id_type="integer")
    with memory.begin() as conn:
        conn.exec_driver_sql(
            "create table activities (lead_id text, event_type text, occurred_at timestamp)"
        )
    assert event_reader(memory, event_columns(tiny_config, memory)) is None
    assert event_reader(numbers, event_columns(tiny_config, numbers)) is None
