"""Sales feedback in: shape, checks against the config and the lead database, idempotent writes,
a file import and the CRM's activity table (on SQLite and the real PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from scoring.config import Config, ConfigError, load_config
from scoring.data.bulk import write_frames
from scoring.feedback import table
from scoring.feedback.checks import LeadLookup, rows_of
from scoring.feedback.crm import sync_crm
from scoring.feedback.imports import import_file
from scoring.feedback.records import FeedbackItem, FeedbackRequest
from scoring.feedback.store import write
from tests.conftest import REPO, tiny_tables
from training.synthetic.world import generate_world

NOW = datetime(2025, 3, 1, 12, 0)
CRM = {
    "table": "sales_activities",
    "id": "activity_id",
    "lead_id": "lead_id",
    "type": "activity_type",
    "timestamp": "occurred_at",
    "reason": "reason",
    "rating": "rating",
    "channel": "channel",
    "types": {
        "contact_attempt": ["call", "email"],
        "sdr_accepted": ["SDR accepted"],
        "sdr_rejected": ["SDR rejected"],
        "ae_accepted": ["opportunity created"],
        "ae_disqualified": ["disqualified"],
    },
}
ACTIVITIES = pd.DataFrame(
    {
        "activity_id": [11, 12, 13, 14, 15, 16],
        "lead_id": ["L1", "L1", "L1", "L2", "L2", "L1"],
        "activity_type": ["call", "Call ", "SDR accepted", "email", "SDR rejected", "note"],
        "occurred_at": [
            "2025-01-10 14:00:00",
            "2025-01-11 09:30:00",
            "2025-01-11 09:45:00",
            "2025-01-06 15:00:00",
            "2025-01-07 10:00:00",
            "2025-01-12 10:00:00",
        ],
        "reason": [None, None, None, None, "bad timing", None],
        "rating": [None, None, 4, None, 2, None],
        "channel": ["call", "call", None, "email", None, None],
    }
)
# the same feedback as the API takes it
ITEMS = [
    {"id": "crm:11", "lead_id": "L1", "kind": "contact_attempt",
     "occurred_at": "2025-01-10T14:00:00Z", "channel": "call"},
    {"id": "crm:12", "lead_id": "L1", "kind": "contact_attempt",
     "occurred_at": "2025-01-11T09:30:00Z", "channel": "call"},
    {"id": "crm:13", "lead_id": "L1", "kind": "sdr_accepted",
     "occurred_at": "2025-01-11T09:45:00Z", "rating": 4},
    {"id": "crm:14", "lead_id": "L2", "kind": "contact_attempt",
     "occurred_at": "2025-01-06T15:00:00Z", "channel": "email"},
    {"id": "crm:15", "lead_id": "L2", "kind": "sdr_rejected",
     "occurred_at": "2025-01-07T05:00:00-05:00", "reason": "not_ready", "rating": 2},
]  # fmt: skip


@pytest.fixture
def crm_config(tiny_config: Config) -> Config:
    feedback = tiny_config.feedback.model_copy(update={"crm": None})
    spec = type(feedback).model_validate(feedback.model_dump() | {"crm": CRM})
    return tiny_config.model_copy(update={"feedback": spec})


@pytest.fixture
def lead_db(any_engine: sa.Engine) -> sa.Engine:
    write_frames(any_engine, {**tiny_tables(), "sales_activities": ACTIVITIES})
    return any_engine


def _items(*changes: dict) -> list[FeedbackItem]:
    return [FeedbackItem.model_validate(ITEMS[0] | change) for change in changes]


def _fields(exc: ValidationError) -> list[tuple]:
    return [tuple(e["loc"]) for e in exc.errors()]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "sdr_rejected"}, "reason"),  # a rejection needs its reason
        ({"reason": "not_ready"}, "reason"),  # a contact attempt takes none
        ({"rating": 3}, "rating"),  # only SDR decisions are rated
        ({"kind": "sdr_accepted"}, "channel"),  # only contacts have a channel
        ({"kind": "won"}, "kind"),
        ({"occurred_at": 1736517600}, "occurred_at"),  # Unix seconds are not a timestamp
        ({"occurred_at": "10/01/2025"}, "occurred_at"),
        ({"id": "  "}, "id"),
        ({"note": "x"}, "note"),
    ],
)
def test_a_malformed_item_is_refused_naming_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FeedbackItem.model_validate(ITEMS[0] | change)
    assert (field,) in _fields(caught.value)


def test_a_request_holds_one_to_a_thousand_items() -> None:
    assert len(FeedbackRequest.model_validate({"feedback": ITEMS}).feedback) == 5
    for size in (0, 1001):
        with pytest.raises(ValidationError) as caught:
            FeedbackRequest.model_validate({"feedback": ITEMS[:1] * size})
        assert _fields(caught.value) == [("feedback",)]


def test_reasons_take_names_or_raw_values_and_times_end_in_utc(
    lead_db: sa.Engine, tiny_config: Config
) -> None:
    items = [FeedbackItem.model_validate(i) for i in ITEMS]
    items.append(
        _items({"kind": "sdr_rejected", "reason": "Bad Timing", "id": "x", "channel": None})[0]
    )
    rows, problems = rows_of(items, tiny_config, LeadLookup(tiny_config, lead_db), NOW)
    assert problems == []
    assert [r["reason"] for r in rows[4:]] == ["not_ready", "not_ready"]
    assert rows[4]["occurred_at"] == datetime(2025, 1, 7, 10, 0)


@pytest.mark.parametrize(
    ("change", "field", "kind"),
    [
        ({"lead_id": "L404"}, "lead_id", "unknown_lead"),
        (
            {"kind": "ae_disqualified", "reason": "too expensive", "channel": None},
            "reason",
            "unknown_reason",
        ),
        ({"kind": "sdr_accepted", "channel": None, "rating": 6}, "rating", "rating_out_of_scale"),
        ({"occurred_at": "2025-03-01T12:10:00Z"}, "occurred_at", "time_in_future"),
        ({"occurred_at": "2024-12-31T23:59:00Z"}, "occurred_at", "before_lead_created"),
    ],
)
def test_feedback_the_data_refutes_is_refused_naming_the_field(
    lead_db: sa.Engine, tiny_config: Config, change: dict, field: str, kind: str
) -> None:
    rows, problems = rows_of(_items(change), tiny_config, LeadLookup(tiny_config, lead_db), NOW)
    assert rows == []
    assert [(p.index, p.field, p.type) for p in problems] == [(0, field, kind)]


def test_five_minutes_of_clock_skew_are_taken(lead_db: sa.Engine, tiny_config: Config) -> None:
    items = _items({"occurred_at": "2025-03-01T12:04:59Z"})
    rows, problems = rows_of(items, tiny_config, LeadLookup(tiny_config, lead_db), NOW)
    assert (len(rows), problems) == (1, [])


def _stored(engine: sa.Engine) -> list[tuple]:
    t = table.define().feedback
    columns = ("feedback_id", "lead_id", "kind", "occurred_at", "reason", "rating", "channel")
    select = sa.select(*(t.c[c] for c in (*columns, "origin"))).order_by(t.c.feedback_id)
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select)]


def _write(engine: sa.Engine, cfg: Config, items: list[FeedbackItem], origin: str = "api", now=NOW):
    rows, problems = rows_of(items, cfg, LeadLookup(cfg, engine), now)
    assert problems == []
    return write(engine, table.create(engine), rows, origin, now)  # type: ignore[arg-type]


def test_writes_are_idempotent_on_the_feedback_id(lead_db: sa.Engine, tiny_config: Config) -> None:
    items = [FeedbackItem.model_validate(i) for i in ITEMS]
    first = _write(lead_db, tiny_config, items)
    again = _write(lead_db, tiny_config, [*items, items[0]])
    assert (len(first.stored), first.duplicates) == (5, [])
    assert (again.stored, len(again.duplicates)) == ([], 6)
    assert len(_stored(lead_db)) == 5

    other = _items({"id": "crm:11", "channel": "email"})
    conflict = _write(lead_db, tiny_config, other)
    assert conflict.stored == []
    assert [(p.field, p.type) for p in conflict.conflicts] == [("id", "id_conflict")]
    assert _stored(lead_db)[0][6] == "call"  # the stored row is left as it was

    updated = _write(lead_db, tiny_config, other, origin="crm")  # the CRM is the truth
    assert updated.updated == ["crm:11"]
    assert _stored(lead_db)[0][6] == "email"


def test_a_duplicate_id_within_one_batch_is_written_once(
    lead_db: sa.Engine, tiny_config: Config
) -> None:
    items = _items({}, {}, {"channel": "email"})
    done = write(
        lead_db,
        table.create(lead_db),
        rows_of(items, tiny_config, LeadLookup(tiny_config, lead_db), NOW)[0],
        "api",
        NOW,
        all_or_nothing=True,
    )
    assert [(p.index, p.type) for p in done.conflicts] == [(2, "id_conflict")]
    assert _stored(lead_db) == []  # all or nothing


def test_the_crm_table_gives_the_rows_the_api_gives(
    lead_db: sa.Engine, crm_config: Config, postgres_engine: sa.Engine
) -> None:
    synced = sync_crm(crm_config, lead_db, NOW)
    assert synced is not None
    assert (synced.rows, synced.stored, synced.refused) == (5, 5, 0)  # "note" is not feedback
    write_frames(postgres_engine, tiny_tables())
    _write(postgres_engine, crm_config, [FeedbackItem.model_validate(i) for i in ITEMS])
    as_api = [row[:-1] for row in _stored(postgres_engine)]
    assert [row[:-1] for row in _stored(lead_db)] == as_api
    again = sync_crm(crm_config, lead_db, NOW)
    assert again is not None and (again.stored, again.duplicates) == (0, 5)


def test_a_crm_row_edited_there_is_updated_and_a_bad_one_kept_aside(
    sqlite_engine: sa.Engine, crm_config: Config
) -> None:
    edited = ACTIVITIES.assign(reason=[None, None, None, None, "no budget", None])
    edited.loc[0, "occurred_at"] = "2025-01-12 25:00:00"  # no such hour
    write_frames(sqlite_engine, {**tiny_tables(), "sales_activities": ACTIVITIES})
    sync_crm(crm_config, sqlite_engine, NOW)
    write_frames(sqlite_engine, {"sales_activities": edited})
    done = sync_crm(crm_config, sqlite_engine, NOW)
    assert done is not None and (done.updated, done.refused) == (1, 1)
    assert _stored(sqlite_engine)[4][4] == "no_budget"
    with sqlite_engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT feedback_id, fields FROM lead_feedback_errors")).all()
    assert kept == [("crm:11", "occurred_at")]


def _with_sdr_reasons(cfg: Config, reasons: dict[str, list[str]]) -> Config:
    spec = type(cfg.feedback).model_validate(cfg.feedback.model_dump() | {"sdr_reasons": reasons})
    return cfg.model_copy(update={"feedback": spec})


def test_a_sync_checks_only_the_crm_rows_new_or_edited_since_the_last(
    lead_db: sa.Engine, crm_config: Config
) -> None:
    sync_crm(crm_config, lead_db, NOW)
    again = sync_crm(crm_config, lead_db, NOW)
    assert again is not None and (again.rows, again.duplicates, again.unchanged) == (5, 5, 5)
    edited = ACTIVITIES.assign(reason=[None, None, None, None, "no budget", None])
    write_frames(lead_db, {"sales_activities": edited})
    done = sync_crm(crm_config, lead_db, NOW)
    assert done is not None and (done.updated, done.duplicates, done.unchanged) == (1, 4, 4)
    assert _stored(lead_db)[4][4] == "no_budget"
    with lead_db.begin() as conn:  # a row deleted by hand is copied again
        conn.execute(sa.text("DELETE FROM lead_feedback WHERE feedback_id = 'crm:13'"))
    done = sync_crm(crm_config, lead_db, NOW)
    assert done is not None and (done.stored, done.unchanged) == (1, 4)
    assert len(_stored(lead_db)) == 5


def test_a_config_change_checks_every_crm_row_again(lead_db: sa.Engine, crm_config: Config) -> None:
    sync_crm(crm_config, lead_db, NOW)
    reasons = crm_config.feedback.sdr_reasons | {
        "not_ready": ["not ready"],
        "timing": ["bad timing"],
    }
    moved = _with_sdr_reasons(crm_config, reasons)
    done = sync_crm(moved, lead_db, NOW)
    assert done is not None and (done.unchanged, done.duplicates, done.updated) == (0, 4, 1)
    assert _stored(lead_db)[4][4] == "timing"


def test_a_refused_crm_row_is_checked_again_until_it_passes(
    sqlite_engine: sa.Engine, crm_config: Config
) -> None:
    later = {"activity_id": 17, "lead_id": "L2", "activity_type": "email", "channel": "email"}
    later["occurred_at"] = "2025-03-05 09:00:00"  # in the future on NOW
    activities = pd.concat([ACTIVITIES, pd.DataFrame([later])], ignore_index=True)
    write_frames(sqlite_engine, {**tiny_tables(), "sales_activities": activities})
    for _ in range(2):
        first = sync_crm(crm_config, sqlite_engine, NOW)
        assert first is not None and (first.stored + first.duplicates, first.refused) == (5, 1)
    with sqlite_engine.connect() as conn:  # one record of the row, not one a sync
        kept = conn.execute(sa.text("SELECT feedback_id, fields FROM lead_feedback_errors")).all()
    assert kept == [("crm:17", "occurred_at")]
    done = sync_crm(crm_config, sqlite_engine, datetime(2025, 3, 6))
    assert done is not None and (done.stored, done.unchanged, done.refused) == (1, 5, 0)
    assert "crm:17" in [row[0] for row in _stored(sqlite_engine)]


def test_a_file_import_stores_what_passes_and_keeps_the_rest_with_its_row(
    lead_db: sa.Engine, tiny_config: Config, tmp_path: Path
) -> None:
    rows = [
        *ITEMS[:3],
        ITEMS[3] | {"lead_id": "L404"},  # row 4
        ITEMS[4] | {"reason": "too early", "rating": 9},  # row 5: two problems
    ]
    path = tmp_path / "feedback.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    done = import_file(tiny_config, lead_db, path, NOW)
    assert (done.rows, done.stored, done.refused) == (5, 3, 2)
    with lead_db.connect() as conn:
        kept = conn.execute(
            sa.text("SELECT row_number, feedback_id, fields FROM lead_feedback_errors ORDER BY 1")
        ).all()
    assert kept == [(4, "crm:14", "lead_id"), (5, "crm:15", "reason, rating")]
    again = import_file(tiny_config, lead_db, path, NOW)
    assert (again.stored, again.duplicates, again.refused) == (0, 3, 2)


def test_a_file_without_the_feedback_columns_stops_naming_them(
    tmp_path: Path, tiny_config: Config, sqlite_engine: sa.Engine
) -> None:
    path = tmp_path / "feedback.csv"
    pd.DataFrame([{"lead": "L1", "kind": "contact_attempt"}]).to_csv(path, index=False)
    with pytest.raises(ConfigError, match=r"unknown columns \['lead'\]; missing columns"):
        import_file(tiny_config, sqlite_engine, path, NOW)


DEMO_KINDS = {"call": "contact_attempt", "email": "contact_attempt",
              "linkedin message": "contact_attempt", "sdr accepted": "sdr_accepted",
              "sdr rejected": "sdr_rejected", "opportunity created": "ae_accepted",
              "disqualified": "ae_disqualified"}  # fmt: skip


def _as_api_items(log: pd.DataFrame) -> list[FeedbackItem]:
    """The demo's activity log as a client would POST it: raw reasons, UTC times."""
    items = []
    for row in log.itertuples():
        kind = DEMO_KINDS[row.activity_type]
        item = {"id": f"crm:{row.activity_id}", "lead_id": row.lead_id, "kind": kind,
                "occurred_at": f"{pd.Timestamp(row.occurred_at).isoformat()}Z"}  # fmt: skip
        if isinstance(row.reason, str):
            item["reason"] = row.reason
        if pd.notna(row.rating):
            item["rating"] = int(row.rating)
        if isinstance(row.channel, str):
            item["channel"] = row.channel
        items.append(FeedbackItem.model_validate(item))
    return items


def test_on_the_demo_world_the_crm_mapping_and_the_api_store_the_same_rows(
    sqlite_engine: sa.Engine, postgres_engine: sa.Engine
) -> None:
    world = generate_world(2_000, seed=3)
    cfg = load_config(REPO / "configs" / "demo.yaml")
    now = world.exported_at.to_pydatetime()
    for engine in (sqlite_engine, postgres_engine):
        write_frames(engine, {"leads": world.leads, "sales_activities": world.sales_activities})
    synced = sync_crm(cfg, sqlite_engine, now)
    assert synced is not None and synced.refused == 0
    assert synced.stored == len(world.sales_activities) > 1_000
    items = _as_api_items(world.sales_activities)
    for start in range(0, len(items), 1_000):  # the API's largest request
        FeedbackRequest(feedback=items[start : start + 1_000])
        _write(postgres_engine, cfg, items[start : start + 1_000], now=now)
    crm = [row[:-1] for row in _stored(sqlite_engine)]
    assert crm == [row[:-1] for row in _stored(postgres_engine)]
    assert {row[2] for row in crm} == set(DEMO_KINDS.values())
