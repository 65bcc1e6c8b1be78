"""Bulk writes: the same rows whichever way they go (COPY from COPY_MIN_ROWS rows on
PostgreSQL, executemany below it and on SQLite), for plain inserts and upserts."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from scoring.data.sql import COPY_MIN_ROWS, write_rows

WHEN = datetime(2025, 3, 1, 12, 30)


def _table() -> sa.Table:
    return sa.Table(
        "written",
        sa.MetaData(),
        sa.Column("id", sa.String(20), primary_key=True),
        sa.Column("score", sa.Float),
        sa.Column("at", sa.DateTime),
        sa.Column("note", sa.String(20)),
    )


def _values(n: int, score: float) -> dict[str, list]:
    return {
        "id": [f"L{i}" for i in range(n)],
        "score": [score + i for i in range(n)],
        "at": [WHEN] * n,
        "note": [None if i % 2 else "x" for i in range(n)],
    }


def _upsert(engine: sa.Engine, table: sa.Table) -> sa.Insert:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    return statement.on_conflict_do_update(
        index_elements=["id"], set_={"score": statement.excluded.score}
    )


@pytest.mark.parametrize("n", [1, COPY_MIN_ROWS - 1, COPY_MIN_ROWS, 3 * COPY_MIN_ROWS])
def test_inserts_and_upserts_store_the_rows_given(any_engine: sa.Engine, n: int) -> None:
    table = _table()
    table.create(any_engine)
    with any_engine.begin() as conn:
        write_rows(conn, table.insert(), _values(n, 0.5))
    with any_engine.begin() as conn:
        write_rows(conn, _upsert(any_engine, table), _values(n + 1, 10.5))
    with any_engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.id)).all()
    expected = _values(n + 1, 10.5)  # new scores on old rows, one new row
    assert sorted(rows) == sorted(zip(*expected.values(), strict=True))
    with any_engine.begin() as conn:
        write_rows(conn, _upsert(any_engine, table), {"id": ["L0"], "score": [1.0]})
        assert conn.execute(sa.select(table.c.note).where(table.c.id == "L0")).scalar() == "x"


@pytest.mark.parametrize("n", [1, COPY_MIN_ROWS])
def test_a_key_written_twice_raises_sqlalchemys_integrity_error(
    any_engine: sa.Engine, n: int
) -> None:
    """Callers retry on `sa.exc.IntegrityError` (two writers racing on a new key), so the
    driver's own error must not come through, from executemany or COPY, and nothing is kept."""
    table = _table()
    table.create(any_engine)
    with any_engine.begin() as conn:
        write_rows(conn, table.insert(), _values(n, 0.5))
    with pytest.raises(sa.exc.IntegrityError), any_engine.begin() as conn:
        write_rows(conn, table.insert(), {"id": ["new"], "score": [1.0]})
        write_rows(conn, table.insert(), _values(n, 0.5))
    with any_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == n
