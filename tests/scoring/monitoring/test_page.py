"""The report page as HTML: every section, the raw numbers beside the text, a sentence for each
missing input, nothing from the network; and the monitoring history it reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from scoring.config import load_config
from scoring.monitoring.page.inputs import build_page, read_card
from scoring.monitoring.page.render import NO_MONITORING, PageInputs, render_page
from scoring.monitoring.runs import history as monitor_history
from scoring.monitoring.whatif import Costs, choose
from tests.conftest import REPO
from tests.scoring.monitoring.report_samples import (
    marks,
    monitor_result,
    sample_card,
    write_monitor_runs,
)

SECTIONS = ("model-card", "thresholds", "whatif", "monitoring", "funnel")


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{tmp_path / 'leads.db'}")


def test_history_is_empty_without_the_table_and_oldest_first_with_it(engine: sa.Engine) -> None:
    # given no lead_monitor_runs table yet
    assert monitor_history(engine, "demo") == []
    # when three demo runs and one of another source are written
    runs = [("demo", monitor_result(i)) for i in range(3)] + [("other", monitor_result(9))]
    write_monitor_runs(engine, runs)
    history = monitor_history(engine, "demo")
    # then the demo's come back oldest first, with their result parsed from JSON
    assert [h["id"] for h in history] == [1, 2, 3]
    assert history[-1]["result"] == monitor_result(2)
    assert history[0]["checked_at"] == "2026-01-01T06:00:00" and history[0]["breaches"] == 0
    assert [h["id"] for h in monitor_history(engine, "demo", limit=2)] == [2, 3]
    assert monitor_history(engine, "nobody") == []


def test_every_section_with_its_raw_numbers(engine: sa.Engine) -> None:
    card = sample_card()
    write_monitor_runs(engine, [("demo", monitor_result(i)) for i in range(3)])
    history = monitor_history(engine, "demo")
    funnel = {
        "as_of": "2026-12-01T00:00:00",
        "total": {"leads": 1000, "mql": 120, "sql": 30, "won": 9, "mql_to_sql": 0.25},
        "notes": ["a note"],
    }
    sla = [
        {
            "rule": "first_touch",
            "owner": "sdr",
            "team": "SDR",
            "stage": "mql",
            "met": 10,
            "breached": 2,
            "open": 1,
            "overdue": 1,
            "clocks": 14,
            "breach_rate": 3 / 13,
        }
    ]
    page = render_page(PageInputs("demo", card, history, funnel, sla, "lead-scoring v1"))
    found = marks(page)
    for key in SECTIONS:
        assert f"section-{key}" in found
    assert not [k for k in found if k.startswith("empty-")]
    # the card's numbers, exact
    assert float(found["card-leads"]) == 16_000 and float(found["card-win-rate"]) == 0.02
    assert float(found["metric-combined-roc_auc_ci_low"]) == 0.78
    assert float(found["metric-naive_bayes-roc_auc"]) == 0.7
    assert found["gate"] == "passed" and found["card-period-first"] == "2024-01-02"
    assert float(found["chosen-sql"]) == 1500.0 and float(found["load-ae"]) == 26.0
    assert float(found["money-mql-net"]) == 10_000.0
    assert float(found["money-nurture-net"]) == 2_000.0 and found["money-nurture-cost"] == ""
    assert "no handoff (nurture)" in page and "10%" in page
    # the what-if starts on the Python choice under the trained costs
    choice = choose(card["thresholds"]["grid"], Costs.of(card["thresholds"]["costs"]))
    assert choice is not None
    assert float(found["whatif-mql"]) == choice.mql and int(found["whatif-row"]) == choice.row
    assert float(found["whatif-net_value"]) == choice.net_value
    # the latest monitoring run, the funnel and the SLA
    latest = history[-1]["result"]
    assert found["monitor-verdict"] == "ok"
    assert float(found["monitor-ece"]) == latest["calibration"]["ece"]
    assert float(found["monitor-score-psi"]) == latest["drift"]["score_psi"]
    assert found["challenger-better"] == "True" and found["check-ece"] == "ok"
    assert float(found["funnel-mql_to_sql"]) == 0.25 and found["funnel-sal"] == ""
    assert float(found["sla-first_touch-breach_rate"]) == 3 / 13
    # text is escaped; the what-if data is JSON the script can parse
    assert "<b>stacked</b>" not in page and "&lt;b&gt;stacked&lt;/b&gt;" in page
    data = re.search(r'<script id="whatif-data" type="application/json">(.*?)</script>', page)
    assert data and json.loads(data.group(1))["grid"] == card["thresholds"]["grid"]


def test_missing_inputs_say_why_and_nothing_comes_from_the_network() -> None:
    page = render_page(PageInputs("demo", sample_card(thresholds=False)))
    found = marks(page)
    for key in ("thresholds", "whatif", "monitoring", "funnel", "sla"):
        assert f"empty-{key}" in found, key
    assert "leadscore monitor" in page and NO_MONITORING.split(":")[0] in page
    assert 'id="whatif-data"' not in page
    bare = render_page(PageInputs("demo"))
    assert "empty-model-card" in marks(bare)
    for html in (page, bare):
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
        assert "@import" not in html and "url(" not in html


def test_a_source_without_creation_dates_is_not_said_to_be_tested_on_its_latest_leads() -> None:
    dated = sample_card(thresholds=False)
    undated = json.loads(json.dumps(dated))
    undated["data"]["period"] = None
    assert "test fold (the latest leads)" in render_page(PageInputs("demo", dated))
    page = render_page(PageInputs("demo", undated))
    assert "no creation dates" in page and "the latest leads" not in page
    assert "test fold (leads held out from training)" in page


def test_build_page_reads_the_funnel_and_sla_and_says_when_parts_fail(
    engine: sa.Engine, tmp_path: Path
) -> None:
    # given a lead database without the config's tables
    cfg = load_config(REPO / "configs" / "demo.yaml")
    (tmp_path / "scorer").mkdir()
    assert read_card(tmp_path / "scorer") is None
    (tmp_path / "scorer" / "card.json").write_text(json.dumps(sample_card()))
    card = read_card(tmp_path / "scorer")
    page = build_page(cfg, card, engine, "lead-scoring v1")
    found = marks(page)
    # then the card is there and the funnel and SLA sections say they could not be read
    assert "empty-funnel" in found and "empty-sla" in found and "empty-monitoring" in found
    assert "could not be read" in page
    assert "no lead database" in build_page(cfg, card, None)
