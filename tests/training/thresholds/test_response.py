"""Response times from sales feedback: the median handoff-to-first-touch hours of a hand-built
lead_feedback table, the configured times below `feedback.min_leads` and without the table, and
the study's output naming where its times come from."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from scoring.config import Config, CostModel
from scoring.data.validation import Leads
from scoring.feedback.table import create as create_feedback
from tests.conftest import TINY_CONFIG, tiny_tables
from training.thresholds.replay import Replay, _flow, ready_moments
from training.thresholds.report import tuning_text
from training.thresholds.response import (
    Measured,
    ResponseTimes,
    configured,
    sales_feedback,
)
from training.thresholds.study import tune
from training.thresholds.timeline import Timeline

T0 = dt.datetime(2025, 3, 3, 9, 0)  # a Monday
HANDOFF_HOURS = (0, 24, 48, 72, 96)  # five MQLs, a day apart
TOUCH_AFTER = (1.0, 2.0, 3.0, 10.0, 30.0)  # their first touch: median 3 h


def _cfg(min_leads: int) -> Config:
    doc = yaml.safe_load(TINY_CONFIG)
    doc["leads"]["funnel"] = {"mql": "mql_at", "sal": "sal_at", "sql": "sql_at"}
    doc["feedback"] = {"min_leads": min_leads}
    return Config.model_validate(doc)


def _at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def _leads() -> pd.DataFrame:
    """Five MQLs (L1-L5), one lead an SDR accepted before its SQL (L6) and one opportunity
    created straight away (L7, a direct SQL)."""
    base = tiny_tables()["leads"].iloc[:1]
    rows = []
    for i, hours in enumerate(HANDOFF_HOURS, start=1):
        rows.append({"lead_id": f"L{i}", "mql_at": _at(hours)})
    rows.append(
        {"lead_id": "L6", "mql_at": _at(0), "sal_at": _at(5), "sql_at": _at(50)}  # via an SDR
    )
    rows.append({"lead_id": "L7", "sql_at": _at(10)})  # straight to an AE
    frame = pd.DataFrame(rows)
    for column in ("sal_at", "sql_at"):
        frame[column] = frame.get(column)
    fixed = base.drop(columns=["lead_id", "mql_at"]).iloc[[0] * len(frame)].reset_index(drop=True)
    frame = pd.concat([frame, fixed], axis=1)
    frame["created_at"] = T0 - dt.timedelta(days=10)
    return frame


def _feedback_rows() -> list[dict]:
    rows: list[tuple[str, str, float, str | None]] = []
    for i, (handed, after) in enumerate(zip(HANDOFF_HOURS, TOUCH_AFTER, strict=True), start=1):
        rows.append((f"L{i}", "contact_attempt", handed - 5.0, None))  # before the handoff
        kind = "sdr_rejected" if i == 4 else "contact_attempt"  # a decision is a touch too
        rows.append((f"L{i}", kind, handed + after, "not_ready" if i == 4 else None))
        rows.append((f"L{i}", "contact_attempt", handed + after + 20.0, None))
    rows.append(("L6", "contact_attempt", 1.0, None))  # L6: its SDR touch counts for the SDR
    rows.append(("L6", "contact_attempt", 52.0, None))  # ... its AE call is no first contact
    rows.append(("L7", "ae_accepted", 10.0, None))  # the SQL itself: no touch
    rows.append(("L7", "contact_attempt", 12.0, None))  # the AE's first call, 2 h after
    return [
        {
            "feedback_id": f"f{n}",
            "lead_id": lead,
            "kind": kind,
            "occurred_at": _at(hours),
            "reason": reason,
            "origin": "api",
            "digest": "-",
            "recorded_at": _at(500),
        }
        for n, (lead, kind, hours, reason) in enumerate(rows)
    ]


@pytest.fixture
def engine(sqlite_engine: sa.Engine) -> sa.Engine:
    tables = tiny_tables()
    tables["leads"] = _leads()
    for name, frame in tables.items():
        frame.to_sql(name, sqlite_engine, index=False)
    return sqlite_engine


def _with_feedback(engine: sa.Engine) -> sa.Engine:
    table = create_feedback(engine).feedback
    with engine.begin() as conn:
        conn.execute(table.insert(), _feedback_rows())
    return engine


def test_measured_response_is_the_median_first_touch(engine: sa.Engine) -> None:
    # given five MQLs touched 1, 2, 3, 10 and 30 hours after their handoff (L4 by a rejection),
    # a lead that went through an SDR (touched 1 h after) and a direct SQL called 2 h after
    found = sales_feedback(_cfg(min_leads=3), _with_feedback(engine))
    response = found.response
    # then the SDR's time is the median over the six handed-off leads: touches before the
    # handoff do not count, later ones neither
    assert response.sdr == Measured(pytest.approx(2.5), 6)
    # and the AE's is the direct SQL's alone: the SDR-accepted lead's AE call is no first call
    assert response.ae == Measured(pytest.approx(2.0), 1)
    assert response.used("sdr") and not response.used("ae")
    costs = response.apply(CostModel())
    assert costs.sdr_response_hours == pytest.approx(2.5)
    assert costs.ae_response_hours == CostModel().ae_response_hours
    assert response.source("sdr") == "measured from 6 leads"
    assert response.source("ae") == (
        "configured (costs.ae_response_hours; 1 leads handed straight to an AE with a measured "
        "first touch, fewer than feedback.min_leads 3)"
    )
    # the history's first-touch delays and the not-ready rejection come from the same rows
    assert sorted(found.first_touch_days() * 24) == pytest.approx([1, 1, 2, 3, 10, 30])
    ids = pd.Index(["L4", "L5"])
    assert np.isnan(found.not_ready_days(ids)[1])
    assert found.not_ready_days(ids)[0] == pytest.approx(
        (_at(82) - dt.datetime(1970, 1, 1)).total_seconds() / 86_400
    )


def test_too_few_leads_keep_the_configured_times(engine: sa.Engine) -> None:
    response = sales_feedback(_cfg(min_leads=7), _with_feedback(engine)).response
    assert response.sdr.leads == 6 and not response.used("sdr")
    assert response.apply(CostModel()) == CostModel()
    assert "6 leads with a measured first touch, fewer than feedback.min_leads 7" in (
        response.source("sdr")
    )
    assert sales_feedback(_cfg(min_leads=7), engine).response.sdr.leads == 6


def test_no_feedback_table_keeps_the_configured_times(engine: sa.Engine) -> None:
    # a source without a lead_feedback table (another dataset): nothing fails, nothing measured
    found = sales_feedback(_cfg(min_leads=1), engine)
    assert not found.response.table
    assert found.response.apply(CostModel()) == CostModel()
    assert found.response.source("sdr") == (
        "configured (costs.sdr_response_hours; the lead database has no lead_feedback table)"
    )
    assert len(found.first_touch_days()) == 0
    assert np.isnan(found.not_ready_days(pd.Index(["L1"]))).all()


def test_a_not_ready_rejection_moves_the_ready_moment() -> None:
    # L1 handed off on day 10, sent back as not ready on day 11, asked for a demo on day 15;
    # L2 the same without the ask; L3 handed off and accepted, never sent back
    cfg = _cfg(min_leads=1)
    day = pd.Timestamp("1970-01-01")
    meta = pd.DataFrame(
        {
            "mql_at": [day + pd.Timedelta(days=10)] * 3,
            "sal_at": [pd.NaT, pd.NaT, day + pd.Timedelta(days=12)],
            "sql_at": [pd.NaT] * 3,
        },
        index=pd.Index(["L1", "L2", "L3"], name="lead_id"),
    )
    events = pd.DataFrame(
        {
            "lead_id": ["L1", "L1"],
            "event_type": ["demo_request", "demo_request"],
            "occurred_at": [day + pd.Timedelta(days=d) for d in (9.5, 15)],
        }
    )
    leads = Leads(meta, pd.DataFrame(index=meta.index))
    before = ready_moments(cfg, leads, events)
    assert before == pytest.approx([9.5, 10, 10])
    after = ready_moments(cfg, leads, events, np.array([11.0, 11.0, np.nan]))
    assert after[0] == pytest.approx(15) and np.isnan(after[1]) and after[2] == pytest.approx(10)


def _replay(response: ResponseTimes) -> Replay:
    """200 leads scored once, each worth its expected revenue when handed off."""
    rng = np.random.default_rng(3)
    n = 200
    p = rng.beta(1.0, 10.0, n)
    created = np.sort(rng.uniform(0, 70, n))
    timeline = Timeline(
        pd.Index([f"L{i}" for i in range(n)]), np.arange(n), created, p, np.full(n, np.nan),
        p * 10_000, p * 10_000,
    )  # fmt: skip
    weeks, scale = _flow(created, created)
    costs = response.apply(CostModel())
    return Replay(timeline, costs, p * 10_000, None, np.empty(0), weeks, scale, response=response)


def test_the_study_says_where_its_response_times_come_from() -> None:
    measured = ResponseTimes(Measured(27.7, 812), Measured(None, 0), min_leads=100)
    result = tune(_replay(measured), trials=12)
    times = result.summary()["response_times"]
    assert times["sdr"] | {"text": ""} == {
        "hours": 27.7, "source": "measured", "leads": 812, "measured_hours": 27.7, "text": "",
    }  # fmt: skip
    assert times["ae"]["source"] == "configured" and times["ae"]["hours"] == 1.0
    replay = _replay(measured)
    text = tuning_text(result, replay)
    assert "response times (handoff to first call): SDR 27.7 h, measured from 812 leads; " in text
    assert "AE 1 h, configured (costs.ae_response_hours; 0 leads handed straight" in text
    # a source without feedback says so, and its study uses the config's times
    plain = tune(_replay(configured(_cfg(100))), trials=12)
    assert plain.summary()["response_times"]["sdr"]["hours"] == 4.0
    assert "SDR 4 h, configured (costs.sdr_response_hours; the lead database has no " in (
        tuning_text(plain, _replay(configured(_cfg(100))))
    )
