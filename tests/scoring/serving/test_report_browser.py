"""GET /report in a real browser: headless Chromium (Playwright) on a real `bentoml serve` of a
demo model trained as of 2025-07-01 with its threshold study, over a demo lead database with
feedback and monitoring runs. The numbers the page shows are the CLI's and the Python functions'
own, the what-if chooses what `scoring.monitoring.whatif.choose` chooses, and a screenshot is
kept in test-artifacts/report.png."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Playwright, sync_playwright

from scoring.cli.monitor import judge_and_keep
from scoring.feedback.crm import sync_crm
from scoring.monitoring.monitor import Model
from scoring.monitoring.runs import history
from scoring.monitoring.whatif import Costs, choose
from tests.conftest import REPO
from tests.scoring.monitoring.report_samples import marks
from tests.scoring.serving.servers import free_port, running
from training.pipeline.run import TrainResult

TOKEN = "report-token-5d1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"
BIN = Path(sys.executable).parent
SECTIONS = ("model-card", "thresholds", "whatif", "monitoring", "funnel")


@dataclass(frozen=True)
class Served:
    url: str
    db: str  # the lead database LEADSCORE_LEAD_DB points at
    mlflow: str  # the registry the model came from
    card: dict
    first_load: float  # seconds for the first GET /report (rendered, not cached yet)


@pytest.fixture(scope="module")
def lead_db(trained_until: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the demo world with the CRM's feedback synced and three `leadscore monitor`
    runs of the July model, a month apart; before the last, the job title stopped being filled
    on new leads."""
    source = Path(sa.make_url(trained_until.config.source.database).database or "")
    path = tmp_path_factory.mktemp("report-world") / "leads.db"
    shutil.copyfile(source, path)
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    cfg = trained_until.config.with_database(url)
    sync_crm(cfg, engine, pd.Timestamp("2026-01-01").to_pydatetime())
    model = Model("lead-scoring v1", trained_until.registered)
    for as_of in ("2025-11-01", "2025-12-01", "2026-01-01"):
        if as_of == "2026-01-01":
            with engine.begin() as conn:
                conn.execute(
                    sa.text("UPDATE leads SET title = NULL WHERE created_at > '2025-07-01'")
                )
        judge_and_keep(cfg, engine, model, None, pd.Timestamp(as_of).to_pydatetime())
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def served(
    trained_until: TrainResult, lead_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The demo model with its threshold study registered in a scratch MLflow store, promoted,
    imported into its own BentoML home and served with a token and the lead database."""
    from scoring.model import registry
    from training import tracking
    from training.thresholds.study import tune
    from training.thresholds.tuning import held_out_replay

    replay = held_out_replay(
        trained_until.config, trained_until.scorer, sa.create_engine(lead_db), trained_until.data
    )
    tuning = tune(replay, 40, seed=0)
    tuned = trained_until.with_thresholds(tuning.thresholds())
    store = tmp_path_factory.mktemp("report-mlflow")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    home = tmp_path_factory.mktemp("report-bentoml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.chdir(store)
        _, version = tracking.log_training(tuned, {}, register=True, tuning=(tuning, replay))
        client = registry.setup()
        registry.promote(client, str(version))
        card = tracking.logged_card(client, str(version), "demo")
    assert card is not None
    env = {"MLFLOW_TRACKING_URI": uri, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    subprocess.run(
        [str(BIN / "python"), "-c", "from scoring.serving.store import import_champion as i; i()"],
        cwd=store,
        env=os.environ | env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "bentoml"), "serve", "scoring.serving.service:LeadScoring"]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    serve_env = env | {
        "LEADSCORE_API_TOKEN": TOKEN,
        "LEADSCORE_LEAD_DB": lead_db,
        "LEADSCORE_SLA_REFRESH_SECONDS": "0",
    }
    log = store / "bentoml.log"
    with running(cmd, serve_env, log, url):
        began = time.perf_counter()
        first = httpx.get(f"{url}/report", headers=AUTH, timeout=60)
        first_load = time.perf_counter() - began
        assert first.status_code == 200, first.text
        yield Served(url, lead_db, uri, card, first_load)


def _cli(served: Served, *args: str) -> str:
    env = os.environ | {"MLFLOW_TRACKING_URI": served.mlflow, "COLUMNS": "200"}
    config = str(REPO / "configs" / "demo.yaml")
    done = subprocess.run(
        [str(BIN / "leadscore"), *args, "--config", config, "--db", served.db],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _browser(pw: Playwright) -> Browser:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/system does it)")
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def _cached_load(url: str) -> float:
    """Seconds for a GET /report the service answers from its cache (best of three)."""
    times = []
    for _ in range(3):
        began = time.perf_counter()
        response = httpx.get(f"{url}/report", headers=AUTH, timeout=60)
        times.append(time.perf_counter() - began)
        assert response.status_code == 200 and response.text.startswith("<!DOCTYPE html>")
    return min(times)


def test_report_needs_the_token_and_only_serves_its_own_source(served: Served) -> None:
    assert httpx.get(f"{served.url}/report", timeout=60).status_code == 401
    wrong = httpx.get(f"{served.url}/report", headers={"Authorization": "Bearer x"}, timeout=60)
    assert wrong.status_code == 401
    other = httpx.get(f"{served.url}/report?source=maven-crm", headers=AUTH, timeout=60)
    assert other.status_code == 404 and "demo" in other.json()["error"]
    mine = httpx.get(f"{served.url}/report?source=demo", headers=AUTH, timeout=60)
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/html")


def test_the_page_in_a_browser_shows_the_clis_numbers_and_a_working_what_if(
    served: Served,
) -> None:
    cold, warm = served.first_load, _cached_load(served.url)
    funnel = json.loads(_cli(served, "report", "funnel", "--format", "json"))["total"]
    sla = json.loads(_cli(served, "sla", "--format", "json"))["summary"]
    kept = history(sa.create_engine(served.db), "demo")
    assert [r["verdict"] for r in kept] == ["ok", "ok", "retrain_recommended"]
    latest = kept[-1]
    card, th = served.card, served.card["thresholds"]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = _browser(pw)
        context = browser.new_context(
            extra_http_headers=AUTH, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        began = time.perf_counter()
        page.goto(f"{served.url}/report", wait_until="load")
        browser_load = time.perf_counter() - began
        page.wait_for_selector("body[data-whatif=ready]")
        nav = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " return {response: n.responseEnd - n.requestStart, load: n.loadEventEnd}; }"
        )
        shown = marks(page.content())

        # every section, none of them empty
        for key in SECTIONS:
            assert page.locator(f"[data-testid=section-{key}]").is_visible()
        assert not [k for k in shown if k.startswith("empty-")]
        # the model card: the card's own numbers
        for model, metrics in card["metrics"].items():
            for key in ("roc_auc", "roc_auc_ci_low", "roc_auc_ci_high", "pr_auc", "log_loss"):
                value = shown.get(f"metric-{model}-{key}")
                assert value is not None and float(value) == metrics[key], (model, key)
        assert float(shown["card-leads"]) == card["data"]["leads"]
        assert shown["gate"] == ("passed" if card["gate"]["passed"] else "refused")
        assert float(shown["chosen-mql"]) == th["chosen"]["mql"]
        assert float(shown["tuned-net-value"]) == th["outcome"]["net_value"]
        assert float(shown["load-ae"]) == th["load"]["ae_per_week"]
        # the funnel and SLA: `leadscore report funnel` and `leadscore sla` JSON
        for key in (
            "leads",
            "mql",
            "sal",
            "sql",
            "won",
            "mql_to_sql",
            "sql_to_win",
            "marketing_revenue",
            "cycle_days_median",
            "first_touch_within_sla",
        ):
            expected = funnel[key]
            got = shown[f"funnel-{key}"]
            assert got == "" if expected is None else float(got) == expected, key
        for row in sla:
            for key in ("met", "breached", "open", "overdue", "clocks", "breach_rate"):
                got, expected = shown[f"sla-{row['rule']}-{key}"], row[key]
                assert got == "" if expected is None else float(got) == expected, (row, key)
        # the latest monitoring run
        result = latest["result"]
        assert shown["monitor-verdict"] == latest["verdict"] == "retrain_recommended"
        assert float(shown["monitor-ece"]) == result["calibration"]["ece"]
        assert float(shown["monitor-score-psi"]) == result["drift"]["score_psi"]
        assert int(shown["monitor-breaches"]) == latest["breaches"]

        # the what-if: dearer AEs and a smaller AE team
        costs = dict(th["costs"]) | {"ae_cost_per_sql": 650.0, "ae_capacity_per_week": 30.0}
        page.fill("[data-testid=whatif-input-ae_cost_per_sql]", "650")
        page.fill("[data-testid=whatif-input-ae_capacity_per_week]", "30")
        expected = choose(th["grid"], Costs.of(costs))
        assert expected is not None
        page.wait_for_function(
            "row => document.querySelector('[data-testid=whatif-row]').dataset.value == row",
            arg=str(expected.row),
        )
        after = marks(page.content())
        assert int(after["whatif-row"]) == expected.row
        for key in ("mql", "sql", "min_fit", "net_value", "sdr_per_week", "ae_per_week"):
            assert float(after[f"whatif-{key}"]) == getattr(expected, key), key
        assert expected.ae_per_week is not None and expected.ae_per_week <= 30.0 * (
            1 - costs["capacity_headroom"]
        )
        # the browser's choice is Python's under any costs
        rng = random.Random(7)
        for _ in range(25):
            trial = dict(th["costs"]) | {
                "sdr_cost_per_mql": rng.uniform(0, 200),
                "ae_cost_per_sql": rng.uniform(50, 2000),
                "sdr_capacity_per_week": rng.uniform(5, 400),
                "ae_capacity_per_week": rng.uniform(2, 120),
                "capacity_headroom": rng.choice([0.0, 0.1, 0.3]),
            }
            js = page.evaluate("([g, c]) => window.leadscoreChoose(g, c)", [th["grid"], trial])
            py = choose(th["grid"], Costs.of(trial))
            assert py is not None and js["row"] == py.row and js["net_value"] == py.net_value

        page.click("#whatif-reset")
        page.wait_for_function(
            "row => document.querySelector('[data-testid=whatif-row]').dataset.value == row",
            arg=str(choose(th["grid"], Costs.of(th["costs"])).row),  # type: ignore[union-attr]
        )
        page.hover("[data-testid=pareto-chart] circle.hl")
        assert page.locator("#tip").is_visible()
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        assert not errors, errors
        browser.close()
    timing = {
        "first_get_seconds": round(cold, 3),
        "cached_get_seconds": round(warm, 3),
        "browser_load_seconds": round(browser_load, 3),
        "browser_response_ms": round(nav["response"], 1),
        "browser_load_event_ms": round(nav["load"], 1),
        "card_kb": round(len(json.dumps(card)) / 1024, 1),
    }
    (ARTIFACTS / "report-timing.json").write_text(json.dumps(timing, indent=1))
    print(f"report page timing: {timing}")
    assert warm < 1.0 and browser_load < 2.0


def test_the_cli_writes_the_page_the_service_serves(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    said = _cli(served, "report", "page", "--output", str(out))
    assert "lead-scoring v1" in said
    served_page = httpx.get(f"{served.url}/report", headers=AUTH, timeout=60).text
    written, shown = marks(out.read_text()), marks(served_page)
    moving = {"generated-at", "funnel-as-of"}
    assert {k: v for k, v in written.items() if k not in moving} == {
        k: v for k, v in shown.items() if k not in moving
    }
