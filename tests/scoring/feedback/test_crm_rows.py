"""The memory of CRM rows already copied: which rows a sync checks again, and two syncs racing."""

from __future__ import annotations

import sqlalchemy as sa

from scoring.config import Config
from scoring.feedback import crm_rows, table

ROWS = [(11, "L1", "call", "2025-01-10 14:00:00"), (12, "L1", "call", "2025-01-11 09:30:00")]


def _fresh(engine: sa.Engine, cfg: Config, rows: list[tuple]) -> crm_rows.Batch:
    return crm_rows.new_or_edited(engine, table.create(engine), rows, 0, cfg)


def _copied(engine: sa.Engine, ids: list[str]) -> None:
    """lead_feedback rows for `ids`, as a sync would have stored them."""
    feedback = table.create(engine).feedback
    row = {"lead_id": "L1", "kind": "contact_attempt", "occurred_at": sa.func.now()}
    row |= {"origin": "crm", "digest": "d", "recorded_at": sa.func.now()}
    with engine.begin() as conn:
        for fid in ids:
            conn.execute(feedback.insert().values(feedback_id=fid, **row))


def test_a_row_is_checked_again_when_its_values_change_or_its_id_repeats(
    any_engine: sa.Engine, tiny_config: Config
) -> None:
    first = _fresh(any_engine, tiny_config, ROWS)
    assert list(first.fresh) == [0, 1] and first.unchanged == 0
    _copied(any_engine, ["crm:11", "crm:12"])
    crm_rows.remember(
        any_engine, table.create(any_engine).crm_rows, first, [0, 1], ["crm:11", "crm:12"]
    )
    assert _fresh(any_engine, tiny_config, ROWS).unchanged == 2
    edited = [ROWS[0], (*ROWS[1][:3], "2025-01-11 09:31:00")]
    assert list(_fresh(any_engine, tiny_config, edited).fresh) == [1]
    assert list(_fresh(any_engine, tiny_config, [*ROWS, ROWS[0]]).fresh) == [0, 2]
    typed = [("11", *ROWS[0][1:]), ROWS[1]]  # the id now text: another key
    assert list(_fresh(any_engine, tiny_config, typed).fresh) == [0]


def test_two_syncs_racing_on_new_rows_both_finish(
    any_engine: sa.Engine, tiny_config: Config
) -> None:
    rows_table = table.create(any_engine).crm_rows
    first, second = _fresh(any_engine, tiny_config, ROWS), _fresh(any_engine, tiny_config, ROWS)
    crm_rows.remember(any_engine, rows_table, first, [0, 1], ["crm:11", "crm:12"])
    crm_rows.remember(any_engine, rows_table, second, [1], ["crm:12"])  # its insert hits the key
    with any_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(rows_table)).scalar_one() == 2
    _copied(any_engine, ["crm:11"])  # crm:12 never reached lead_feedback: it is forgotten
    assert list(_fresh(any_engine, tiny_config, ROWS).fresh) == [1]
