"""The request body of the API routes, checked before BentoML sees it: the client's mistakes are
answered here with a 4xx and one log line (no body content), never a 5xx or a traceback."""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger("leadscore.service")

JSON = "application/json"


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


class RequestBody:
    """ASGI middleware of the POST routes in `paths`: a body that is not JSON gets a 415 (BentoML
    would hand a multipart body to its form parser, and a broken one ends in a 500)."""

    def __init__(self, app: Any, paths: tuple[str, ...] = ("/score",)) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        media = _media_type(scope)
        if media != JSON:
            await reject(scope, send, 415, f"Content-Type {media!r}: send {JSON}")
            return
        await self.app(scope, receive, send)
