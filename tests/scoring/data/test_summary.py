"""The lead database described as it is: SQLite tables whose declared column types do not match
what they hold (ISO dates and text keys in NUMERIC columns, as a CRM export loaded by hand leaves
them) are read as stored and validated, as batch rescoring reads them, not converted by type."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.cli.main import app
from scoring.config import Config
from scoring.data.files import write_table
from scoring.data.load import load_events, load_leads
from scoring.data.summary import summarise
from tests.conftest import TINY_CONFIG, tiny_tables

NUMERIC = {"account_id", "created_at", "mql_at", "closed_at", "revenue", "occurred_at"}


def _declared_numeric(path: Path) -> sa.Engine:
    """The tiny CRM in tables created by hand: dates and keys declared NUMERIC, holding text."""
    conn = sqlite3.connect(path)
    for name, frame in tiny_tables().items():
        columns = ", ".join(f"{c} {'NUMERIC' if c in NUMERIC else 'TEXT'}" for c in frame.columns)
        conn.execute(f"CREATE TABLE {name} ({columns})")
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False)
        conn.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * frame.shape[1])})", rows)
    conn.commit()
    stored = {r[0] for r in conn.execute("SELECT typeof(created_at) FROM leads")}
    conn.close()
    assert stored == {"text"}  # ISO text stays text in a NUMERIC column
    return sa.create_engine(f"sqlite:///{path}")


def _written(path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}")
    for name, frame in tiny_tables().items():
        write_table(frame, name, engine)
    return engine


def test_numeric_declared_dates_read_as_the_text_they_hold(
    tiny_config: Config, tmp_path: Path
) -> None:
    numeric = _declared_numeric(tmp_path / "numeric.db")
    written = _written(tmp_path / "written.db")
    # the same leads and events, validated the same way, whatever the declared types
    got, expected = load_leads(tiny_config, numeric), load_leads(tiny_config, written)
    pd.testing.assert_frame_equal(got[0].meta, expected[0].meta)
    assert got[0].meta["created_at"].notna().all() and len(got[1]) == len(expected[1]) == 0
    pd.testing.assert_frame_equal(
        load_events(tiny_config, numeric)[0], load_events(tiny_config, written)[0]
    )
    # and the same summary, join coverage included
    text = summarise(tiny_config, numeric).to_text()
    assert text.split("\n", 1)[1] == summarise(tiny_config, written).to_text().split("\n", 1)[1]
    assert "created      2025-01-01 .. 2025-02-10" in text
    assert "join accounts: 1 of 4 keys (25.0%) find no row e.g. 'A9'" in text


def test_data_summary_command_reads_a_numeric_declared_table(tmp_path: Path) -> None:
    _declared_numeric(tmp_path / "numeric.db")
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    done = CliRunner().invoke(
        app, ["data", "summary", "-c", str(config), "--db", f"sqlite:///{tmp_path / 'numeric.db'}"]
    )
    assert done.exit_code == 0, done.output
    assert "leads                 4  valid 4  rejected 0" in done.output
