"""The bearer token guards GET /report like every POST; health, metrics and docs stay open."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from scoring.serving.auth import BearerAuth


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _client(token: str | None) -> TestClient:
    routes = [Route(p, _ok, methods=["GET", "POST"]) for p in ("/report", "/livez", "/score")]
    app = Starlette(routes=routes)
    return TestClient(BearerAuth(app, token=token or ""))


def test_report_needs_the_token_when_one_is_set() -> None:
    client = _client("s3cret")
    assert client.get("/report").status_code == 401
    assert client.get("/report?source=demo").status_code == 401
    assert client.get("/report", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/report", headers={"Authorization": "Bearer s3cret"}).text == "ok"
    assert client.post("/score").status_code == 401
    assert client.get("/livez").text == "ok"
    assert client.get("/score").text == "ok"  # a GET of an API route: BentoML answers it


def test_without_a_token_the_report_is_open() -> None:
    assert _client(None).get("/report").text == "ok"
