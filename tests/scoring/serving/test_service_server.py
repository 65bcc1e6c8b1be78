"""The service as it runs in production: `bentoml serve` in a subprocess on a free port, with a
bearer token, scoring concurrent requests (batched) exactly as one at a time."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import jsonschema
import pytest

from scoring.settings import settings
from tests.scoring.serving.servers import free_port, running

TOKEN = "test-token-7f3a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AS_OF = "2025-06-30T12:00:00Z"


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the `server` fixture's process writes (stdout and stderr)."""
    return tmp_path_factory.mktemp("server") / "bentoml.log"


@pytest.fixture(scope="module")
def server(bento_home: Path, server_log: Path) -> Iterator[str]:
    port = free_port()
    env = {
        "BENTOML_HOME": str(bento_home),
        "LEADSCORE_API_TOKEN": TOKEN,
        "BENTOML_DO_NOT_TRACK": "true",
    }
    cmd = [
        str(Path(sys.executable).parent / "bentoml"),
        "serve",
        "scoring.serving.service:LeadScoring",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    url = f"http://127.0.0.1:{port}"
    with running(cmd, env, server_log, url):
        yield url


def _lead(i: int) -> dict:
    return {
        "lead_id": f"CRM-{i}",
        "title": ["VP Sales", "Marketing Intern", "Head of RevOps", "CTO"][i % 4],
        "vertical": ["software", "retail", "healthcare"][i % 3],
        "employees": 40 * (i + 1),
        "tech_stack": "Salesforce;Snowflake" if i % 2 else "Siebel",
        "events": [
            {"type": "pricing_page", "timestamp": f"2025-06-{10 + i % 15:02d}T10:00:00Z"}
            for _ in range(i % 4)
        ],
    }


def test_real_server_scores_with_auth_health_and_docs(server: str) -> None:
    body = {"lead": _lead(3), "as_of": AS_OF}
    assert httpx.post(f"{server}/score", json=body).status_code == 401
    response = httpx.post(f"{server}/score", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    scored = response.json()["scores"][0]
    assert scored["lead_id"] == "CRM-3" and scored["model_version"] == "lead-scoring v1"
    assert scored["reasons"]["positive"] or scored["reasons"]["negative"]
    bad = httpx.post(
        f"{server}/score", json={"lead": {"lead_id": 1, "employees": "x"}}, headers=AUTH
    )
    assert bad.status_code == 400 and "employees" in bad.text
    garbage = httpx.post(
        f"{server}/score", content=b"{", headers=AUTH | {"content-type": "application/json"}
    )
    assert garbage.status_code == 400
    assert httpx.get(f"{server}/livez").status_code == 200
    assert httpx.get(f"{server}/readyz").status_code == 200
    assert "bentoml_service_request" in httpx.get(f"{server}/metrics").text
    assert "Lead" in httpx.get(f"{server}/docs.json").json()["components"]["schemas"]


def test_concurrent_requests_are_batched_and_answered_like_single_ones(server: str) -> None:
    bodies = [{"lead": _lead(i), "as_of": AS_OF} for i in range(24)]
    with httpx.Client(headers=AUTH) as client:
        alone = [client.post(f"{server}/score", json=b).json() for b in bodies]
    with ThreadPoolExecutor(12) as pool, httpx.Client(headers=AUTH) as client:
        together = list(pool.map(lambda b: client.post(f"{server}/score", json=b), bodies * 2))
    assert all(r.status_code == 200 for r in together)
    # the same numbers and reasons whatever else was in the batch (as_of fixed, so no clock)
    expected = [json.dumps(a["scores"], sort_keys=True) for a in alone] * 2
    assert [json.dumps(r.json()["scores"], sort_keys=True) for r in together] == expected
    many = httpx.post(
        f"{server}/score",
        json={"leads": [_lead(i) for i in range(24)], "as_of": AS_OF},
        headers=AUTH,
    )
    assert [s for s in many.json()["scores"]] == [a["scores"][0] for a in alone]


def test_timestamps_out_of_range_in_utc_and_a_broken_multipart_body_are_client_errors(
    server: str,
) -> None:
    """Finding 3: these parsed, then overflowed in the UTC conversion (a 500)."""
    lead = {"lead_id": "CRM-1", "events": [{"type": "webinar", "timestamp": "2025-06-01T00:00Z"}]}
    early = lead | {"events": [{"type": "webinar", "timestamp": "0001-01-01T00:00:00+14:00"}]}
    late = {"lead": lead, "as_of": "9999-12-31T23:59:59-05:00"}
    for body, field in [({"lead": early}, ["lead", "events", 0, "timestamp"]), (late, ["as_of"])]:
        response = httpx.post(f"{server}/score", json=body, headers=AUTH)
        assert response.status_code == 400, response.text
        assert [p["loc"] for p in response.json()["detail"]] == [field]
    multipart = httpx.post(
        f"{server}/score", content=b"x", headers=AUTH | {"content-type": "multipart/form-data"}
    )
    assert multipart.status_code == 415 and "application/json" in multipart.json()["error"]


def _validator(doc: dict, name: str) -> jsonschema.Draft202012Validator:
    """A validator of the document's component `name` (refs resolved inside the document)."""
    root = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(root)


def test_the_openapi_document_says_what_the_service_does(server: str) -> None:
    """Finding 8: `{}` was valid under the document but got a 400; a 400's `detail` is a list
    where the document said a string."""
    doc = httpx.get(f"{server}/docs.json").json()
    assert doc["openapi"].startswith("3.1")
    score = doc["paths"]["/score"]["post"]
    assert score["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ScoreRequest"
    )
    request, error = _validator(doc, "ScoreRequest"), _validator(doc, "ClientError")
    answer = _validator(doc, "ScoreResponseIODescriptor")
    lead = _lead(1)
    cases = [
        ({}, 400),
        ({"lead": None}, 400),
        ({"lead": lead, "leads": [lead]}, 400),
        ({"lead": {"lead_id": " "}}, 400),
        ({"lead": {"lead_id": 1, "employees": "x"}}, 400),
        ({"lead": lead, "as_of": None}, 200),
        ({"lead": None, "leads": [lead], "as_of": AS_OF}, 200),
        ({"lead": lead | {"lead_id": 42, "country": 49}}, 200),
    ]
    for body, status in cases:
        response = httpx.post(f"{server}/score", json=body, headers=AUTH)
        assert response.status_code == status, (body, response.text)
        assert request.is_valid(body) == (status == 200), body
        schema = answer if status == 200 else error
        assert schema.is_valid(response.json()), response.text
        assert str(status) in score["responses"]


# What schemathesis (benchmarks/schemathesis.sh, `--checks all`) found the document and the
# service to disagree on: bodies the document refuses that were scored (pydantic's lax mode),
# and bodies it allows that were refused.
SCHEMATHESIS_CASES = [  # (change to a valid body, status, the field a 400 names)
    ({"explain": "yes"}, 400, "explain"),
    ({"explain": 1}, 400, "explain"),
    ({"top": "3"}, 400, "top"),
    ({"top": True}, 400, "top"),
    ({"top": 3.0}, 200, None),  # JSON Schema's integer: 3.0 is 3
    ({"as_of": 0}, 400, "as_of"),  # Unix seconds
    ({"as_of": "1700000000"}, 400, "as_of"),
    ({"as_of": "2023-02-29T10:00:00Z"}, 400, "as_of"),
    ({"as_of": "2025-06-01 10:00"}, 200, None),  # no offset: UTC
    ({"as_of": "2025-06-01"}, 200, None),
    ({"lead": {"lead_id": "x", "events": [{"type": "webinar", "timestamp": 0}]}}, 400, "timestamp"),
    ({"lead": {"lead_id": "x", "events": [{"type": "\x1e", "timestamp": AS_OF}]}}, 400, "type"),
    ({"lead": {"lead_id": -1.7976931348623157e308}}, 200, None),  # 309 digits: over 200
    ({"lead": {"lead_id": "x", "employees": "850"}}, 200, None),  # HubSpot: numbers as text
    ({"lead": {"lead_id": "x", "employees": "1e9"}}, 400, "employees"),
    ({"lead": {"lead_id": "x", "employees": True}}, 400, "employees"),
]


def test_bodies_schemathesis_found_are_answered_as_the_document_says(server: str) -> None:
    """Issue 15: `explain: "yes"`, `top: "3"` and Unix-second timestamps were scored though the
    document refused them; a valid event type "\\x1e" got a 422 and a valid numeric id a 400;
    an answer's `as_of` had no offset, so it was not the RFC 3339 date-time it said."""
    doc = httpx.get(f"{server}/docs.json").json()
    request = _validator(doc, "ScoreRequest")
    answer = _validator(doc, "ScoreResponseIODescriptor")
    for change, status, field in SCHEMATHESIS_CASES:
        body = {"lead": {"lead_id": "x"}, "as_of": AS_OF} | change
        response = httpx.post(f"{server}/score", json=body, headers=AUTH)
        assert response.status_code == status, (body, response.text)
        assert request.is_valid(body) == (status == 200), body
        if field is not None:
            assert [p["loc"][-1] for p in response.json()["detail"]] == [field], response.text
        else:
            assert answer.is_valid(response.json()), response.text
            as_of = response.json()["scores"][0]["as_of"]
            assert as_of.endswith("Z") and datetime.fromisoformat(as_of).tzinfo is not None


def _score_counts(server: str) -> dict[str, float]:
    """Requests to /score so far by HTTP status, from /metrics."""
    found = re.findall(
        r'request_total\{endpoint="/score",http_response_code="(\d+)"[^}]*\} ([\d.]+)',
        httpx.get(f"{server}/metrics").text,
    )
    return {status: float(count) for status, count in found}


def test_a_rejected_request_is_one_log_line_without_its_body_and_a_disconnect_no_500(
    server: str, server_log: Path
) -> None:
    """Finding 11: every rejected request logged a 25-line traceback with excerpts of the lead
    data; a client that went away mid-body was logged and counted as a 500."""
    secret = "Jane Roe, jane.roe@example.com"
    seen = len(server_log.read_text().splitlines())
    typed = httpx.post(
        f"{server}/score", json={"lead": {"lead_id": 1, "employees": secret}}, headers=AUTH
    )
    cut = httpx.post(
        f"{server}/score",
        content=f'{{"lead": {{"lead_id": "{secret}"'.encode(),
        headers=AUTH | {"content-type": "application/json"},
    )
    assert typed.status_code == cut.status_code == 400
    _raw_post(server, 5000, f'{{"lead": {{"title": "{secret}"'.encode()).close()  # gone mid-body
    deadline = time.monotonic() + 60
    while "499" not in _score_counts(server):
        assert time.monotonic() < deadline, "the disconnect was never answered"
        time.sleep(0.2)
    assert _score_counts(server).get("500", 0) == 0
    while len(server_log.read_text().splitlines()) < seen + 6:  # 3 access lines, 3 rejections
        assert time.monotonic() < deadline, server_log.read_text()[-3000:]
        time.sleep(0.2)
    lines = server_log.read_text().splitlines()[seen:]
    assert secret not in "\n".join(lines) and "Jane" not in "\n".join(lines)
    rejected = [line for line in lines if "POST /score rejected" in line]
    assert len(rejected) == 3, lines
    assert all("(scheme=http" in line or line in rejected for line in lines), lines


def _largest_body() -> bytes:
    """100 leads x 1,000 events (~6 MB): the largest request the service takes."""
    events = [
        {"type": "web_visit", "timestamp": f"2025-0{1 + j % 6}-{1 + j % 28:02d}T10:00:00+02:00"}
        for j in range(1000)
    ]
    leads = [_lead(i) | {"events": events} for i in range(100)]
    return json.dumps({"leads": leads, "as_of": AS_OF}).encode()


def test_a_body_over_the_limit_is_refused_unread_and_health_answers_under_big_bodies(
    server: str,
) -> None:
    """Finding 2: bodies were parsed and validated on the event loop, without a size limit, so
    /livez waited behind concurrent maximum-size requests (figures: benchmarks/serve_load.py)."""
    with _raw_post(server, settings().max_body_bytes + 1) as sock:  # not a byte of the body
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")
    big = _largest_body()
    headers = AUTH | {"content-type": "application/json"}
    with ThreadPoolExecutor(6) as pool:
        posts = [
            pool.submit(httpx.post, f"{server}/score", content=big, headers=headers, timeout=120)
            for _ in range(6)
        ]
        probes = 0
        while not any(f.done() for f in posts) or not probes:
            assert httpx.get(f"{server}/livez", timeout=60).status_code == 200
            assert httpx.get(f"{server}/readyz", timeout=60).status_code == 200
            probes += 1
        answers = [f.result() for f in posts]
    assert {a.status_code for a in answers} <= {200, 503}, [a.text[:200] for a in answers]
    assert all(a.headers.get("retry-after") for a in answers if a.status_code == 503)
    assert all(len(a.json()["scores"]) == 100 for a in answers if a.status_code == 200)


def test_trickled_bodies_time_out_and_one_client_cannot_hold_every_slot(server: str) -> None:
    """Finding 4: connections sending a byte every few seconds held their slot of the
    concurrency limit for as long as they liked; 1,200 of them filled it."""
    extra = 8
    socks: list[socket.socket] = []
    try:
        for _ in range(settings().max_bodies_per_client + extra):
            socks.append(_raw_post(server, 100, b"{", timeout=120))  # and then nothing more
        statuses = sorted(int(sock.recv(4096).split(b" ")[1]) for sock in socks)
    finally:
        for sock in socks:
            sock.close()
    assert statuses == [408] * settings().max_bodies_per_client + [429] * extra
    assert httpx.get(f"{server}/readyz").status_code == 200


def test_readiness_says_503_while_the_service_is_saturated(
    bento_home: Path, tmp_path: Path
) -> None:
    """Finding 4: /readyz said 200 while slow bodies held every slot; it says 503 from 90% of
    LEADSCORE_MAX_CONCURRENCY requests in progress, and 200 again once they are gone."""
    port = free_port()
    env = {
        "BENTOML_HOME": str(bento_home),
        "BENTOML_DO_NOT_TRACK": "true",
        "LEADSCORE_MAX_CONCURRENCY": "10",  # saturated from 9
        "LEADSCORE_BODY_SECONDS": "120",  # the held bodies outlast the test
    }
    cmd = [str(Path(sys.executable).parent / "bentoml"), "serve"]
    cmd += ["scoring.serving.service:LeadScoring", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running(cmd, env, tmp_path / "saturated.log", url):
        socks: list[socket.socket] = []
        try:
            for _ in range(9):
                socks.append(_raw_post(url, 100, b"{", auth=False))  # and then nothing more
            assert _eventually(url, 503)
            assert httpx.get(f"{url}/livez", timeout=10).status_code == 200
        finally:
            for sock in socks:
                sock.close()
        assert _eventually(url, 200)


def _raw_post(
    server: str, length: int, prefix: bytes = b"", auth: bool = True, timeout: float = 60
) -> socket.socket:
    """A connection to `server` that has sent the head of a POST /score declaring a body of
    `length` bytes, then only `prefix` of it; the caller closes it."""
    host, port = server.removeprefix("http://").split(":")
    head = "POST /score HTTP/1.1\r\nHost: x\r\n"
    head += f"Authorization: Bearer {TOKEN}\r\n" if auth else ""
    head += f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.sendall(head.encode() + prefix)
    return sock


def _eventually(url: str, status: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/readyz", timeout=10).status_code == status:
            return True
        time.sleep(0.2)
    return False
