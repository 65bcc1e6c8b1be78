"""POST /feedback: sales feedback about scored leads, into the lead database's lead_feedback.

A request is all or nothing: every item is checked (shape by `RequestBody` before BentoML sees
the body, then against the config and the lead database here), and either all are stored or
none, with a 4xx naming each problem's field: 400 the shape, 422 what the data refutes (an
unknown lead or reason, a time in the future or before the lead existed), 409 an id stored with
other content. Sending the same items again is a no-op (200, listed as duplicates): a client
retries safely. The lead database is LEADSCORE_LEAD_DB, else the model's config's
source.database; when it cannot be reached the answer is a 503, the client's request was fine.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError

from scoring.config import Config
from scoring.data.database import connect
from scoring.feedback import table
from scoring.feedback.checks import LeadLookup, rows_of
from scoring.feedback.records import FeedbackRequest
from scoring.feedback.store import write
from scoring.serving.parse import Invalid, problems
from scoring.settings import settings

logger = logging.getLogger("leadscore.service")
ITEMS = ("feedback",)


class FeedbackResponse(BaseModel):
    stored: list[str]
    duplicates: list[str]


class Refused(Exception):
    """The request is refused as a whole: its status and problems."""

    def __init__(self, status: int, error: str, detail: list[dict]) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail


class Unavailable(Exception):
    """The lead database cannot take feedback now."""


class FeedbackBody:
    """`RequestBody`'s parser of /feedback: the body as a `FeedbackRequest`, else 400."""

    async def job(self, body: bytes, since: float) -> FeedbackRequest:
        try:
            return FeedbackRequest.model_validate_json(body)
        except ValidationError as exc:
            raise Invalid(problems(exc)) from None


class FeedbackDesk:
    """Checks and stores feedback for the service; connects to the lead database on first use
    (a service without one still scores)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._parts: tuple[sa.Engine, table.FeedbackTables, LeadLookup] | None = None

    def _connected(self) -> tuple[sa.Engine, table.FeedbackTables, LeadLookup]:
        with self._lock:
            if self._parts is None:
                given = settings().lead_db
                url = given.get_secret_value() if given else self._configured()
                engine = connect(url)
                self._parts = (engine, table.create(engine), LeadLookup(self.cfg, engine))
            return self._parts

    def _configured(self) -> str:
        return self.cfg.with_database(None).source.database

    def take(self, request: FeedbackRequest) -> FeedbackResponse:
        """Store the request's items, or raise `Refused` (nothing stored) or `Unavailable`."""
        now = datetime.now(UTC).replace(tzinfo=None)
        try:
            engine, tables, leads = self._connected()
            rows, found = rows_of(request.feedback, self.cfg, leads, now)
            if found:
                detail = [p.located(ITEMS) for p in found]
                raise Refused(422, f"invalid feedback: {len(found)} problem(s)", detail)
            done = write(engine, tables, rows, "api", now, all_or_nothing=True)
        except (sa.exc.OperationalError, sa.exc.InterfaceError, ValueError) as exc:
            logger.warning("feedback not stored: %s", type(exc).__name__)
            raise Unavailable(type(exc).__name__) from None
        if done.conflicts:
            detail = [p.located(ITEMS) for p in done.conflicts]
            raise Refused(409, "feedback ids stored with other content", detail)
        return FeedbackResponse(stored=done.stored, duplicates=done.duplicates)


def answer(desk: FeedbackDesk, request: FeedbackRequest) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of /feedback's answer (timed in the log)."""
    start = time.perf_counter()
    try:
        done = desk.take(request)
    except Refused as exc:
        logger.info("POST /feedback rejected %d: %s", exc.status, exc.error)
        return exc.status, {"error": exc.error, "detail": exc.detail}
    except Unavailable as exc:
        return 503, {"error": f"the lead database cannot take feedback now ({exc})"}
    logger.debug("feedback stored in %.1f ms", 1000 * (time.perf_counter() - start))
    return 200, done.model_dump()
