"""POST /feedback through the service's ASGI app, on a copy of the demo lead database; and the
SLA metrics of a real `bentoml serve` with LEADSCORE_LEAD_DB, before and after a /feedback write."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from typer.testing import CliRunner

from scoring.cli.main import app
from scoring.config import Config
from scoring.feedback import table
from scoring.feedback.crm import sync_crm
from scoring.monitoring.metrics import CHECKED, CLOCKS
from scoring.monitoring.sla import STATES
from tests.conftest import REPO
from tests.scoring.serving.servers import asgi_client, free_port, running

AT = "2025-06-30T12:00:00Z"


@pytest.fixture(scope="module")
def lead_db(demo_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A copy of the demo database the service stores feedback in (LEADSCORE_LEAD_DB)."""
    source = sa.engine.make_url(demo_config.source.database).database
    assert source is not None
    copy = tmp_path_factory.mktemp("feedback") / "leads.db"
    shutil.copy(source, copy)
    url = f"sqlite:///{copy}"
    os.environ["LEADSCORE_LEAD_DB"] = url
    yield url
    os.environ.pop("LEADSCORE_LEAD_DB", None)


@pytest.fixture(scope="module")
def client(bento_home: Path, lead_db: str) -> Iterator[TestClient]:
    import scoring.serving.service as service

    with asgi_client(service.LeadScoring) as client:
        yield client


@pytest.fixture(scope="module")
def leads(lead_db: str) -> list[str]:
    with sa.create_engine(lead_db).connect() as conn:
        query = "SELECT lead_id FROM leads WHERE created_at < '2025-06-01' ORDER BY lead_id LIMIT 3"
        return [r[0] for r in conn.execute(sa.text(query))]


def _items(leads: list[str], prefix: str) -> list[dict[str, Any]]:
    return [
        {"id": f"{prefix}-1", "lead_id": leads[0], "kind": "contact_attempt", "occurred_at": AT,
         "channel": "call"},
        {"id": f"{prefix}-2", "lead_id": leads[0], "kind": "sdr_rejected", "occurred_at": AT,
         "reason": "bad timing", "rating": 2},
        {"id": f"{prefix}-3", "lead_id": leads[1], "kind": "ae_disqualified", "occurred_at": AT,
         "reason": "no_need"},
    ]  # fmt: skip


def _stored(lead_db: str, prefix: str) -> list[tuple]:
    t = table.define().feedback
    select = sa.select(t.c.feedback_id, t.c.kind, t.c.reason, t.c.rating, t.c.origin)
    with sa.create_engine(lead_db).connect() as conn:
        rows = conn.execute(select.where(t.c.feedback_id.like(f"{prefix}-%")))
        return sorted(tuple(r) for r in rows)


def test_feedback_is_stored_once_however_often_it_is_sent(
    client: TestClient, leads: list[str], lead_db: str
) -> None:
    items = _items(leads, "once")
    first = client.post("/feedback", json={"feedback": items})
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": ["once-1", "once-2", "once-3"], "duplicates": []}
    again = client.post("/feedback", json={"feedback": items})
    assert again.json() == {"stored": [], "duplicates": ["once-1", "once-2", "once-3"]}
    assert _stored(lead_db, "once") == [
        ("once-1", "contact_attempt", None, None, "api"),
        ("once-2", "sdr_rejected", "not_ready", 2, "api"),
        ("once-3", "ae_disqualified", "no_need", None, "api"),
    ]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"lead_id": "no-such-lead"}, 422, "lead_id"),
        ({"reason": "too expensive"}, 422, "reason"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, 422, "occurred_at"),
        ({"occurred_at": "2000-01-01T00:00:00Z"}, 422, "occurred_at"),
        ({"rating": 7}, 422, "rating"),
        ({"rating": "2"}, 400, "rating"),
        ({"kind": "won"}, 400, "kind"),
        ({"reason": None}, 400, "reason"),
    ],
)
def test_bad_feedback_gets_a_4xx_naming_the_field_and_nothing_is_stored(
    client: TestClient, leads: list[str], lead_db: str, change: dict, status: int, field: str
) -> None:
    good, bad = _items(leads, f"bad{status}{field}")[:2]
    answer = client.post("/feedback", json={"feedback": [good, bad | change]})
    assert answer.status_code == status, answer.text
    assert [field] == [d["loc"][-1] for d in answer.json()["detail"]]
    assert answer.json()["detail"][0]["loc"][:2] == ["feedback", 1]
    assert _stored(lead_db, f"bad{status}{field}") == []  # all or nothing


def test_an_id_reused_for_other_content_is_a_409(
    client: TestClient, leads: list[str], lead_db: str
) -> None:
    items = _items(leads, "reuse")
    assert client.post("/feedback", json={"feedback": items[:1]}).status_code == 200
    changed = items[0] | {"channel": "email"}
    answer = client.post("/feedback", json={"feedback": [items[1], changed]})
    assert answer.status_code == 409
    assert answer.json()["detail"] == [
        {
            "loc": ["feedback", 1, "id"],
            "msg": "this id was stored with other content: send a new id for new feedback",
            "type": "id_conflict",
        }
    ]
    assert [r[0] for r in _stored(lead_db, "reuse")] == ["reuse-1"]


def test_the_document_describes_feedback(client: TestClient) -> None:
    post = client.get("/docs.json").json()["paths"]["/feedback"]["post"]
    assert {"200", "400", "409", "422"} <= set(post["responses"])
    body = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/FeedbackRequest")


# ---------------------------------------------------------------- SLA metrics on a real server


@pytest.fixture(scope="module")
def sla_db(demo_config: Config, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Another copy of the demo database, with the CRM's activity in lead_feedback."""
    source = sa.engine.make_url(demo_config.source.database).database
    assert source is not None
    copy = tmp_path_factory.mktemp("sla") / "leads.db"
    shutil.copy(source, copy)
    url = f"sqlite:///{copy}"
    sync_crm(demo_config.with_database(url), sa.create_engine(url), datetime(2026, 1, 1))
    return url


@pytest.fixture(scope="module")
def sla_server(
    bento_home: Path, sla_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`bentoml serve` of the demo model with LEADSCORE_LEAD_DB, checking the SLA every second
    (at most: ten times the check's duration apart)."""
    port = free_port()
    env = {
        "BENTOML_HOME": str(bento_home),
        "BENTOML_DO_NOT_TRACK": "true",
        "LEADSCORE_LEAD_DB": sla_db,
        "LEADSCORE_SLA_REFRESH_SECONDS": "1",
    }
    cmd = [str(Path(sys.executable).parent / "bentoml"), "serve"]
    cmd += ["scoring.serving.service:LeadScoring", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("sla-server") / "bentoml.log"
    with running(cmd, env, log, url):
        yield url


def _sla_metrics(server: str, since: float, seconds: float = 300) -> dict[tuple[str, str], float]:
    """leadscore_sla_clocks by (rule, state) from /metrics, once a check began after `since`.
    Checks are ten times the last one's duration apart: on a loaded 2-core machine a check took
    over 11 s, so the next came more than 110 s later (a 90 s wait failed in the full suite)."""
    deadline = time.monotonic() + seconds
    while True:
        text = httpx.get(f"{server}/metrics", timeout=10).text
        found = {f.name: f.samples for f in text_string_to_metric_families(text)}
        checked = [s.value for s in found.get(CHECKED, [])]
        if checked and checked[0] >= since:
            return {(s.labels["rule"], s.labels["state"]): s.value for s in found[CLOCKS]}
        assert time.monotonic() < deadline, f"no SLA check since {since}: {checked}"
        time.sleep(0.5)


def _sla_cli(db: str) -> dict:
    args = ["sla", "--config", str(REPO / "configs" / "demo.yaml"), "--db", db]
    done = CliRunner().invoke(app, [*args, "--format", "json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def _counts(document: dict) -> dict[tuple[str, str], float]:
    return {(r["rule"], state): r[state] for r in document["summary"] for state in STATES}


def test_metrics_export_the_sla_clocks_of_leadscore_sla_and_follow_feedback(
    sla_server: str, sla_db: str
) -> None:
    exported = _sla_metrics(sla_server, since=0)
    before = _sla_cli(sla_db)
    assert exported == _counts(before)
    assert sum(exported.values()) > 10_000
    overdue = [c for c in before["clocks"] if (c["rule"], c["state"]) == ("first_touch", "overdue")]
    assert overdue, "the demo has open first-touch breaches"
    lead = overdue[0]
    touched = pd.Timestamp(lead["started_at"]) + pd.Timedelta(minutes=30)
    item = {
        "id": "sla-touch-1",
        "lead_id": lead["lead_id"],
        "kind": "contact_attempt",
        "occurred_at": f"{touched:%Y-%m-%dT%H:%M:%S}Z",
        "channel": "call",
    }
    answer = httpx.post(f"{sla_server}/feedback", json={"feedback": [item]}, timeout=30)
    assert answer.status_code == 200, answer.text
    stored = datetime.now(UTC).timestamp()

    after = _sla_metrics(sla_server, since=stored)
    assert after == _counts(_sla_cli(sla_db))
    assert after[("first_touch", "overdue")] == exported[("first_touch", "overdue")] - 1
    touched_states = ("met", "breached")
    assert sum(after[("first_touch", s)] for s in touched_states) == (
        sum(exported[("first_touch", s)] for s in touched_states) + 1
    )
