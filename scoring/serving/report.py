"""GET /report: the report page of the served model (docs/report.md).

An ASGI middleware, like /docs.json's: it answers GET /report (and /report?source=<its source>)
with the page `scoring.monitoring.page.inputs.build_page` renders from the served model's model
card (`card.json` in its scorer folder) and, when LEADSCORE_LEAD_DB is set, the monitoring
history, funnel report and SLA summary of that lead database. Pages are rendered in a worker
thread; the first one is waited for, then a page is kept for `ttl` seconds and, once older, the
reader gets it at once while a new one is rendered for the next (stale while revalidating), so
readers get the page in milliseconds and the database is read at most once per `ttl`. The
first page is rendered as the service starts (ASGI lifespan), so the first reader gets it from
the cache too.
Everything else passes through untouched: the page's modules are imported on the first /report,
never on the /score path. Auth is `BearerAuth`'s: GET /report needs the token when
LEADSCORE_API_TOKEN is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

logger = logging.getLogger("leadscore.report")

PATH = "/report"
TTL_SECONDS = 30.0


class ReportPage:
    """ASGI middleware answering GET /report with the served model's report page."""

    def __init__(self, app: Any, model: Any, ttl: float = TTL_SECONDS) -> None:
        self.app = app
        self.model = model  # the service's bentoml.models.BentoModel
        self.ttl = ttl
        self._cached: tuple[float, bytes] | None = None  # (rendered at, page)
        self._lock: asyncio.Lock | None = None
        self._refresh: asyncio.Task | None = None
        self._warming: asyncio.Future | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan" and self._lock is None:
            self._lock = asyncio.Lock()
            self._warming = asyncio.ensure_future(self._warm_up())
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        try:
            status, body, kind = await self._answer(scope)
        except Exception as exc:  # the page must never take the service down
            logger.exception("report page failed")
            status, kind = 500, b"application/json"
            body = json.dumps({"error": f"report page failed: {type(exc).__name__}: {exc}"})
            body = body.encode()
        headers = [
            (b"content-type", kind),
            (b"content-length", b"%d" % len(body)),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: dict) -> tuple[int, bytes, bytes]:
        asked = parse_qs(scope.get("query_string", b"").decode()).get("source", [None])[0]
        stored = self.model.stored
        if stored is None:
            return _error(503, "no model in the BentoML store: nothing to report on")
        from scoring.serving.store import stored_config

        source = stored_config(stored).name
        if asked is not None and asked != source:
            return _error(404, f"this service serves source {source!r}, not {asked!r}")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # the first page: one rendering, the other readers wait for it
            if self._cached is None:
                await self._render(stored)
        assert self._cached is not None
        if time.monotonic() - self._cached[0] > self.ttl and self._refresh is None:
            # stale: this reader gets the last page at once, the next ones the new one
            self._refresh = asyncio.create_task(self._render(stored))
        return 200, self._cached[1], b"text/html; charset=utf-8"

    async def _warm_up(self) -> None:
        """Render the first page as the service starts (in a worker thread, off the event
        loop), so the first reader is answered from the cache too."""
        stored = self.model.stored
        if stored is None or self._lock is None:
            return
        async with self._lock:
            if self._cached is None:
                try:
                    await self._render(stored)
                except Exception:
                    logger.exception("report page: the first rendering failed")

    async def _render(self, stored: Any) -> None:
        try:
            page = await asyncio.to_thread(render_served, stored)
            self._cached = (time.monotonic(), page.encode())
        except Exception:
            if self._cached is None:
                raise
            logger.exception("report page: refresh failed, the last page stays")
        finally:
            self._refresh = None


def _error(status: int, message: str) -> tuple[int, bytes, bytes]:
    return status, json.dumps({"error": message}).encode(), b"application/json"


def render_served(stored: Any) -> str:
    """The page of a model in the BentoML store, with LEADSCORE_LEAD_DB's numbers when set."""
    from scoring.data.database import connect
    from scoring.monitoring.page.inputs import build_page, read_card
    from scoring.serving.store import model_version, scorer_dir, stored_config
    from scoring.settings import settings

    cfg = stored_config(stored)
    given = settings().lead_db
    engine = connect(given.get_secret_value()) if given else None
    try:
        return build_page(cfg, read_card(scorer_dir(stored)), engine, model_version(stored))
    finally:
        if engine is not None:
            engine.dispose()
