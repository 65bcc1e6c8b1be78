"""The request body of the API routes, checked before BentoML sees it: the client's mistakes are
answered here with a 4xx and one log line (no body content), never a 5xx or a traceback.

Parsing and validating a body of 100 leads x 1,000 events takes most of a second of CPU: it
runs in a parse process (`scoring.serving.parse`; small bodies excepted), never in the server's,
so /livez and /readyz answer while the service is saturated; a body longer than
LEADSCORE_MAX_BODY_BYTES is refused (413) before it is read in full; and a body that could not be
parsed within LEADSCORE_MAX_LATENCY_MS of its arrival gets a 503 at once (load shedding).

A client trickling its body (a byte every few seconds) held a slot of the service's concurrency
limit for as long as it liked: 1,200 such connections filled it. A body must arrive within
LEADSCORE_BODY_SECONDS (408 otherwise), one client address may send
LEADSCORE_MAX_BODIES_PER_CLIENT bodies at once (429 beyond), and `active` (requests in
progress) lets /readyz say when the service is saturated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from contextvars import ContextVar
from typing import Any

from starlette.requests import Request

from scoring.serving.batcher import Overloaded
from scoring.serving.jobs import Job, Leads, RejectedLeads
from scoring.serving.parse import BodyParser, Invalid
from scoring.settings import settings

logger = logging.getLogger("leadscore.service")

JSON = "application/json"
PREPARED = "leadscore.job"
reading: Counter[str] = Counter()  # bodies arriving, per client address
active = 0  # requests of the routes in progress, for readiness
# when the body arrived: the batcher's latency budget counts from there
arrived: ContextVar[float | None] = ContextVar("arrived", default=None)


async def reject(
    scope: dict,
    send: Any,
    status: int,
    error: str,
    detail: list[dict] | None = None,
    headers: tuple[tuple[bytes, bytes], ...] = (),
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
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
    logger.info("%s %s rejected %d: %s", scope["method"], scope["path"], status, error)


RETRY = ((b"retry-after", b"1"),)


def _media_type(scope: dict) -> str:
    raw = dict(scope["headers"]).get(b"content-type", JSON.encode())
    return raw.decode("latin-1").split(";")[0].strip().lower()[:100]


class TooLarge(Exception):
    """A body longer than LEADSCORE_MAX_BODY_BYTES."""


def _declared_length(scope: dict) -> int:
    raw = dict(scope["headers"]).get(b"content-length", b"0")
    return int(raw) if raw.isdigit() else 0


async def _read(receive: Any) -> bytes | None:
    """The whole body, or None when the client went away before sending it."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > settings().max_body_bytes:
            raise TooLarge
        chunks.append(chunk)
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


def prepared(request: Request) -> Job | Leads:
    """What `RequestBody` made of the body (BentoML's input spec of the route hands it on)."""
    return request.scope["state"][PREPARED]


class RequestBody:
    """ASGI middleware of the POST routes in `routes` (path -> its parser): reads the body and
    makes it a job, so BentoML only sees requests that are valid. A body that is not JSON gets a
    415 (BentoML would hand a multipart body to its form parser, and a broken one ends in a 500);
    an invalid one a 400 naming the fields, leads the data checks refuse a 422; a client that
    goes away before its body arrived a 499 (nginx's "client closed request", not a 500 in the
    metrics). Each is one log line without the body: BentoML logged a traceback with excerpts of
    the lead data."""

    def __init__(self, app: Any, routes: dict[str, BodyParser]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        parser = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if parser is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        global active
        active += 1
        try:
            body = await self._receive(scope, receive, send)
            if body is not None:
                await self._prepare(parser, body, scope, send)
        finally:
            active -= 1

    async def _receive(self, scope: dict, receive: Any, send: Any) -> bytes | None:
        """The body, or None once the client has been answered (415, 413, 429, 408, 499)."""
        media = _media_type(scope)
        if media != JSON:
            await reject(scope, send, 415, f"Content-Type {media!r}: send {JSON}")
            return None
        limits = settings()
        too_large = f"body over {limits.max_body_bytes} bytes"
        if _declared_length(scope) > limits.max_body_bytes:
            await reject(scope, send, 413, too_large)
            return None
        client = (scope.get("client") or ("unknown",))[0]
        if reading[client] >= limits.max_bodies_per_client:
            error = f"{limits.max_bodies_per_client} bodies of this client are arriving already"
            await reject(scope, send, 429, error, headers=RETRY)
            return None
        reading[client] += 1
        try:
            async with asyncio.timeout(limits.body_seconds):
                body = await _read(receive)
        except TimeoutError:
            error = f"the body took over {limits.body_seconds:g} s to arrive"
            await reject(scope, send, 408, error, headers=((b"connection", b"close"),))
            return None
        except TooLarge:
            await reject(scope, send, 413, too_large)
            return None
        finally:
            reading[client] -= 1
            if not reading[client]:
                del reading[client]
        if body is None:
            await reject(scope, send, 499, "the client went away before sending its body")
        return body

    async def _prepare(self, parser: BodyParser, body: bytes, scope: dict, send: Any) -> None:
        """Hand the body's job on to BentoML, or answer 400 or 422 (invalid), 503 (overloaded)."""
        since = time.monotonic()
        try:
            job = await parser.job(body, since)
        except Overloaded as exc:
            await reject(scope, send, 503, f"overloaded: {exc}", headers=RETRY)
            return
        except Invalid as exc:
            kinds = sorted({p["type"] for p in exc.problems})
            error = f"invalid request body: {len(exc.problems)} problem(s) ({', '.join(kinds)})"
            await reject(scope, send, 400, error, exc.problems)
            return
        except RejectedLeads as exc:
            await reject(scope, send, 422, "invalid leads", exc.problems)
            return
        scope.setdefault("state", {})[PREPARED] = job
        arrived.set(since)  # the batcher's budget counts from there too
        await self.app(scope, _replay(body), send)
