"""GET /report in process: the served model's card with the lead database's numbers, kept for
a while, and only for the served source. (The browser test runs it in `bentoml serve`.)"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scoring.config import Config
from scoring.monitoring.page.inputs import read_card
from scoring.serving.report import ReportPage
from scoring.serving.store import scorer_dir
from tests.scoring.monitoring.report_samples import marks
from tests.scoring.serving.servers import asgi_client


def test_the_service_answers_report_from_its_model_and_lead_database(
    bento_home: Path, demo_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADSCORE_LEAD_DB", demo_config.source.database)
    import scoring.serving.service as service

    card = read_card(scorer_dir(service.MODEL.stored))
    assert card is not None and card["thresholds"] is None  # trained without the study
    with asgi_client(service.LeadScoring) as client:
        first = client.get("/report")
        assert first.status_code == 200, first.text
        assert first.headers["content-type"].startswith("text/html")
        began = time.perf_counter()
        again = client.get("/report?source=demo")
        cached = time.perf_counter() - began
        other = client.get("/report?source=maven-crm")
    assert again.content == first.content and cached < 0.5  # from the cache, not rendered again
    assert other.status_code == 404 and "demo" in json.loads(other.content)["error"]
    shown = marks(first.text)
    assert float(shown["card-leads"]) == card["data"]["leads"]
    assert float(shown["metric-combined-roc_auc"]) == card["metrics"]["combined"]["roc_auc"]
    assert "empty-thresholds" in shown and "empty-whatif" in shown
    assert "empty-monitoring" in shown  # no lead_monitor_runs table in the demo world
    with sa.create_engine(demo_config.source.database).connect() as conn:
        leads = conn.execute(sa.text("select count(*) from leads")).scalar_one()
    assert float(shown["funnel-leads"]) == leads
    assert "sla-first_touch-clocks" in shown


async def _get(app: Any, path: str) -> tuple[int, bytes]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    path, _, query = path.partition("?")
    scope = {"type": "http", "method": "GET", "path": path, "query_string": query.encode()}
    await app(scope | {"headers": []}, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def _passed_on(scope: dict, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_a_stale_page_is_answered_at_once_and_rendered_again_behind(bento_home: Path) -> None:
    import scoring.serving.service as service

    async def scenario() -> None:
        page = ReportPage(_passed_on, model=service.MODEL, ttl=0.0)
        assert (await _get(page, "/score"))[0] == 204  # not /report: passed on, nothing read
        assert page._cached is None
        status, first = await _get(page, "/report")
        assert status == 200 and first.startswith(b"<!DOCTYPE html>")
        rendered = page._cached[0]  # type: ignore[index]
        status, stale = await _get(page, "/report")  # older than ttl: the last page, at once
        assert status == 200 and stale == first and page._refresh is not None
        await page._refresh
        assert page._cached[0] > rendered  # type: ignore[index]
        assert page._refresh is None

    asyncio.run(scenario())
