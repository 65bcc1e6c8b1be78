"""The request body of the API routes, checked before BentoML sees it: the client's mistakes are
answered here with a 4xx and one log line (no body content), never a 5xx or a traceback."""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

logger = logging.getLogger("leadscore.service")

JSON = "application/json"
VALIDATED = "leadscore.validated"


async def reject(
    scope: dict, send: Any, status: int, error: str, detail: list[dict] | None = None
) -> None:
    """Answer a client mistake: `{"error", "detail"}` and one log line without the body."""
    body: dict[str, Any] = {"error": error}
    if detail is not None:
        body["detail"] = detail
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
    logger.info("%s %s rejected %d: %s", scope["method"], scope["path"], status, error)


def _media_type(scope: dict) -> str:
    raw = dict(scope["headers"]).get(b"content-type", JSON.encode())
    return raw.decode("latin-1").split(";")[0].strip().lower()[:100]


async def _read(receive: Any) -> bytes | None:
    """The whole body, or None when the client went away before sending it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _problems(exc: ValidationError) -> list[dict]:
    """What the client needs to fix, without the values it sent."""
    return exc.errors(include_url=False, include_context=False, include_input=False)


def validated(request: Request) -> BaseModel:
    """The body `RequestBody` validated (BentoML's input spec of the route hands it on)."""
    return request.scope["state"][VALIDATED]


class RequestBody:
    """ASGI middleware of the POST routes in `routes` (path -> request model): reads the body and
    validates it, so BentoML only sees requests that are valid. A body that is not JSON gets a
    415 (BentoML would hand a multipart body to its form parser, and a broken one ends in a 500);
    an invalid one a 400 naming the fields; a client that goes away before its body arrived a
    499 (nginx's "client closed request", not a 500 in the metrics). Each is one log line without
    the body: BentoML logged a traceback with excerpts of the lead data."""

    def __init__(self, app: Any, routes: dict[str, type[BaseModel]]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        model = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if model is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        media = _media_type(scope)
        if media != JSON:
            await reject(scope, send, 415, f"Content-Type {media!r}: send {JSON}")
            return
        body = await _read(receive)
        if body is None:
            await reject(scope, send, 499, "the client went away before sending its body")
            return
        try:
            parsed = model.model_validate_json(body or b"{}")
        except ValidationError as exc:
            problems = _problems(exc)
            kinds = sorted({p["type"] for p in problems})
            error = f"invalid request body: {len(problems)} problem(s) ({', '.join(kinds)})"
            await reject(scope, send, 400, error, problems)
            return
        scope.setdefault("state", {})[VALIDATED] = parsed
        await self.app(scope, _replay(body), send)
