"""Reading the lead database for rescoring on the real PostgreSQL server: every lead id listed a
page at a time, never the whole result at once."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.batch import read
from scoring.config import Config
from tests.conftest import tiny_tables

# the session's cursors, but for the unnamed portal of the statement asking (psycopg's extended
# query protocol)
OPEN_CURSORS = "SELECT count(*) FROM pg_cursors WHERE name <> ''"


def test_gone_reads_lead_ids_a_page_at_a_time_from_a_server_side_cursor(
    postgres_engine: sa.Engine, tiny_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given seven leads, and a rescoring table holding three of them (one with spaces), two
    # leads since deleted and a row without an id
    tables = tiny_tables()
    more = tables["leads"].assign(lead_id=["L5", "L6", "L7", "L8"]).iloc[:3]
    tables["leads"] = pd.concat([tables["leads"], more], ignore_index=True)
    for name, frame in tables.items():
        frame.to_sql(name, postgres_engine, index=False)
    stored = pd.DataFrame({"lead_id": ["L1", " L2 ", "L7", "gone-1", "gone-2", None]})
    stored.to_sql("stored", postgres_engine, index=False)
    table = sa.Table("stored", sa.MetaData(), autoload_with=postgres_engine)
    src = read.sources(tiny_config, postgres_engine)
    # when the gone leads are listed two ids a page, counting the session's open cursors at
    # each page
    monkeypatch.setattr(read, "PAGE", 2)
    cursors: list[int] = []
    texts = read._id_texts

    def counted(values: list) -> object:
        cursors.append(conn.exec_driver_sql(OPEN_CURSORS).scalar_one())
        return texts(values)

    monkeypatch.setattr(read, "_id_texts", counted)
    with postgres_engine.connect() as conn:
        found = read.gone(conn, src, sa.select(table.c.lead_id))
        left = conn.exec_driver_sql(OPEN_CURSORS).scalar_one()
    # then they are the deleted ones, read in pages of the live ids (7) and the stored ones (6)
    # from a server-side cursor, closed once read
    assert sorted(found) == ["gone-1", "gone-2"]
    assert cursors == [1] * (4 + 3) and left == 0
