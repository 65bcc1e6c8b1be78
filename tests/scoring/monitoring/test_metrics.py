"""The SLA check's Prometheus numbers (scoring/monitoring/metrics.py) from known clocks, the
gauges the service sets from them (scoring/serving/metrics.py), and a lead database that cannot
be read: logged once per kind, without its password."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from scoring.config import load_config
from scoring.monitoring import runs
from scoring.monitoring.metrics import (
    BREACH_RATIO,
    CHECKED,
    CLOCKS,
    FIRST_TOUCH,
    METRICS,
    SlaCheck,
    le_text,
    recent_first_touch,
    samples,
    summary_lines,
)
from scoring.monitoring.monitor_metrics import BREACH, MONITOR_METRICS, RETRAIN, VALUE
from scoring.monitoring.monitor_metrics import CHECKED as MONITOR_CHECKED
from scoring.monitoring.sla import FIRST_TOUCH_BUCKETS, RULES, STATES, summary
from scoring.serving.metrics import SlaMonitor, gauges, publish
from tests.conftest import REPO

NOW = np.datetime64("2025-07-10T12:00:00", "us")


def _clocks() -> pd.DataFrame:
    """first_touch: 2 met (0.2 and 3 business hours), 1 breached (6), 1 open, 1 overdue;
    sal_to_sql: 1 met; the others none. One of the first touches is 40 days old."""
    rows = [
        ("a", "first_touch", "met", "2025-07-09T10:00", 0.2),
        ("b", "first_touch", "met", "2025-05-30T10:00", 3.0),  # out of a 30-day window
        ("c", "first_touch", "breached", "2025-07-08T10:00", 6.0),
        ("d", "first_touch", "open", None, np.nan),
        ("e", "first_touch", "overdue", None, np.nan),
        ("a", "sal_to_sql", "met", "2025-07-09T11:00", 30.0),
    ]
    frame = pd.DataFrame(rows, columns=["lead_id", "rule", "state", "met_at", "took_hours"])
    frame["rule"] = pd.Categorical(frame["rule"], categories=RULES)
    frame["state"] = pd.Categorical(frame["state"], categories=STATES)
    frame["met_at"] = pd.to_datetime(frame["met_at"]).astype("datetime64[us]")
    return frame


def _check() -> SlaCheck:
    clocks = _clocks()
    totals = summary(clocks, ("first_touch", "contact_attempts", "sal_to_sql"))
    return SlaCheck(NOW, totals, recent_first_touch(clocks, NOW, 30.0), 30.0)


def _values(check: SlaCheck) -> dict[tuple[str, tuple[str, ...]], float]:
    return {(s.name, s.labels): s.value for s in samples(check)}


def test_clock_counts_and_breach_ratio_per_rule_owner_and_state() -> None:
    values = _values(_check())
    first = ("first_touch", "sales", "sdr", "mql")
    assert [values[(CLOCKS, (*first, state))] for state in STATES] == [2, 1, 1, 1]
    assert values[(BREACH_RATIO, first)] == pytest.approx(2 / 4)  # breached + overdue of 4
    sal = ("sal_to_sql", "sales", "ae", "sal")
    assert [values[(CLOCKS, (*sal, state))] for state in STATES] == [1, 0, 0, 0]
    assert values[(BREACH_RATIO, sal)] == 0.0
    attempts = ("contact_attempts", "sales", "sdr", "mql")
    assert [values[(CLOCKS, (*attempts, state))] for state in STATES] == [0, 0, 0, 0]
    assert np.isnan(values[(BREACH_RATIO, attempts)])  # nothing decided: no ratio
    assert "mql_delivery" not in {labels[0] for _, labels in values if labels}  # not checked
    assert values[(CHECKED, ())] == pd.Timestamp("2025-07-10T12:00:00Z").timestamp()


def test_first_touch_histogram_of_the_recent_window_as_cumulative_buckets() -> None:
    values = _values(_check())
    buckets = {labels[0]: v for (name, labels), v in values.items() if name.endswith("_bucket")}
    assert list(buckets) == [*(le_text(b) for b in FIRST_TOUCH_BUCKETS), "+Inf"]
    assert list(buckets)[:4] == ["0.08333333333333333", "0.25", "0.5", "1.0"]
    # in the window: 0.2 (a) and 6.0 (c); b's 3 hours were 41 days ago
    expected = [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
    assert list(buckets.values()) == expected
    assert values[(f"{FIRST_TOUCH}_count", ())] == 2
    assert values[(f"{FIRST_TOUCH}_sum", ())] == pytest.approx(6.2)


def test_summary_lines_are_the_ones_leadscore_sla_prints() -> None:
    assert summary_lines(_check().totals) == [
        "first_touch (sales/sdr, mql): 5 clocks: 2 met, 1 breached, 1 open, 1 overdue (50% late)",
        "contact_attempts (sales/sdr, mql): 0 clocks: 0 met, 0 breached, 0 open, 0 overdue",
        "sal_to_sql (sales/ae, sal): 1 clocks: 1 met, 0 breached, 0 open, 0 overdue (0% late)",
    ]


def test_the_gauges_expose_the_samples_in_prometheus_text() -> None:
    from prometheus_client import generate_latest

    check = _check()
    publish(samples(check))
    assert set(gauges()) == {m.name for m in (*METRICS, *MONITOR_METRICS)}
    labels = {"rule": "first_touch", "owner": "sales", "team": "sdr", "stage": "mql"}
    assert REGISTRY.get_sample_value(CLOCKS, labels | {"state": "overdue"}) == 1
    assert REGISTRY.get_sample_value(f"{FIRST_TOUCH}_bucket", {"le": "+Inf"}) == 2
    families = {f.name: f for f in text_string_to_metric_families(generate_latest().decode())}
    assert families[CLOCKS].type == "gauge"
    assert {s.labels["state"] for s in families[CLOCKS].samples} == set(STATES)


def test_an_unreadable_database_is_logged_once_per_kind_without_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = load_config(REPO / "configs" / "demo.yaml")
    url = "postgresql+psycopg://sla:s3cret-pw@127.0.0.1:1/leads"  # nothing listens on port 1
    monitor = SlaMonitor(cfg, url, 60)
    assert monitor.enabled
    with caplog.at_level(logging.INFO, logger="leadscore.service"):
        assert monitor.check() is None
        assert monitor.check() is None
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1, warned
    assert "OperationalError" in warned[0] and "sla:***@127.0.0.1:1/leads" in warned[0]
    assert "s3cret-pw" not in caplog.text
    assert monitor.checks == 0


def test_the_monitor_is_off_without_a_lead_database_or_with_a_zero_period() -> None:
    cfg = load_config(REPO / "configs" / "demo.yaml")
    assert not SlaMonitor(cfg, None, 60).enabled
    assert not SlaMonitor(cfg, "sqlite:///x.db", 0).enabled


def _monitor_result(source: str, verdict: str, breach: bool) -> dict:
    checks = [
        {"check": "calibration", "status": "breach" if breach else "ok", "value": 0.08},
        {"check": "load", "status": "skipped", "value": None},
    ]
    checks = [c | {"limit": None, "why": ""} for c in checks]
    return {
        "source": source,
        "model_version": "lead-scoring v1",
        "as_of": pd.Timestamp("2026-01-01").to_pydatetime(),
        "verdict": verdict,
        "checks": checks,
        "reasons": [],
    }


def test_the_latest_monitor_verdicts_are_gauges_even_without_sla_rules(tmp_path: Path) -> None:
    """A config that checks no SLA still exports each source's latest monitor verdict."""
    cfg = load_config(REPO / "configs" / "demo.yaml")
    off = cfg.sla.model_copy(
        update={
            "mql_delivery_hours": None,
            "first_touch_business_hours": None,
            "min_attempts": None,
            "sal_to_sql_days": None,
        }
    )
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    engine = sa.create_engine(url)
    at = pd.Timestamp("2026-01-02").to_pydatetime()
    runs.store(engine, _monitor_result("demo", "retrain_recommended", True), at)
    runs.store(engine, _monitor_result("demo", "ok", False), at)  # the latest counts
    runs.store(engine, _monitor_result("maven-crm", "retrain_recommended", True), at)
    monitor = SlaMonitor(cfg.model_copy(update={"sla": off}), url, 60)
    assert monitor.enabled
    assert monitor.check() is not None
    value = REGISTRY.get_sample_value
    assert value(BREACH, {"source": "demo", "check": "calibration"}) == 0
    assert value(BREACH, {"source": "maven-crm", "check": "calibration"}) == 1
    assert value(VALUE, {"source": "demo", "check": "calibration"}) == 0.08
    assert value(BREACH, {"source": "demo", "check": "load"}) is None  # skipped: no sample
    assert value(RETRAIN, {"source": "demo"}) == 0
    assert value(RETRAIN, {"source": "maven-crm"}) == 1
    assert value(MONITOR_CHECKED, {"source": "demo"}) == pd.Timestamp("2026-01-01").timestamp()
