"""Bearer-token auth of the service's API routes (LEADSCORE_API_TOKEN)."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.responses import JSONResponse

from scoring.settings import settings

OPEN_PATHS = ("/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/docs")
GUARDED_GETS = ("/report",)  # pages with the business's numbers: as private as /score


class BearerAuth:
    """ASGI middleware: with a token configured, every API route (every POST, and GET /report)
    needs `Authorization: Bearer <token>` (401 otherwise); health, metrics and the OpenAPI
    document stay open."""

    def __init__(self, app: Any, token: str | None = None) -> None:
        self.app = app
        token = settings().token() if token is None else token
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self.expected is None or scope["type"] != "http" or not _guarded(scope):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "missing or wrong bearer token (Authorization: Bearer <token>)"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)


def _guarded(scope: dict) -> bool:
    if scope["path"] in OPEN_PATHS:
        return False
    return scope["method"] == "POST" or (
        scope["method"] in ("GET", "HEAD") and scope["path"] in GUARDED_GETS
    )
