"""POST /score bodies made `Job`s in processes of their own.

Validating a body of 100 leads x 1,000 events and computing its features takes about 0.8 s of
CPU and creates some 300k Python objects. In the server process that work held the GIL, and the
collector's full passes over those objects (triggered by the parsing itself) stopped the event
loop for 100-280 ms at a time: under 32 such requests /livez answered in 0.3-0.8 s at p99. Here
a pool of LEADSCORE_PARSE_PROCESSES processes turns each body into a `Job` (an array per feature,
a few KB), so the server process only moves bytes and runs the model. A body under 16 KB (a
lead with a hundred events) is only validated where it arrived, on the event loop (a millisecond
or two), and its features are computed with the other small requests of its batch: one lead at a
time in another process cost the service a third of its throughput (benchmarks/serve.py).

Load shedding starts here: the bytes waiting for the pool and its pace (seconds per byte,
measured) say when a new body would be parsed; one that could not be parsed within
LEADSCORE_MAX_LATENCY_MS of its arrival gets its 503 at once, before it queues.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pydantic import BaseModel, ValidationError

from scoring.config import Config
from scoring.serving import schema
from scoring.serving.batcher import Overloaded
from scoring.serving.jobs import Job, Leads, prepare
from scoring.settings import settings

PACED_BYTES = 64 * 2**10  # smaller bodies cost their fixed overhead more than their bytes
INLINE_BYTES = 16 * 2**10


class Invalid(ValueError):
    """A body the request model refuses: the problems, located as the client sent them."""

    def __init__(self, problems: list[dict]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems

    def __reduce__(self) -> tuple[type, tuple[list[dict]]]:
        return type(self), (self.problems,)


def problems(exc: ValidationError) -> list[dict]:
    """What the client needs to fix, without the values it sent."""
    return exc.errors(include_url=False, include_context=False, include_input=False)


# ------------------------------------------------------------------ in a parse process

_cfg: Config | None = None
_request: type[BaseModel] | None = None


def _start(cfg: Config) -> None:
    global _cfg, _request
    threading.Thread(target=_end_with, args=(os.getppid(),), daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group
    _cfg, _request = cfg, schema.request_model(cfg)


def _end_with(parent: int) -> None:
    """Exit once the server process is gone, whatever signal ended it. (Not PR_SET_PDEATHSIG:
    its signal comes when the parent's *thread* that started the process ends.)"""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _ready(seconds: float) -> None:
    time.sleep(seconds)


def to_job(body: bytes, since: float, start_by: float) -> tuple[Job, float]:
    """The body's job, and when its parsing began; `since` and `start_by` are monotonic times,
    the machine's clock."""
    assert _cfg is not None and _request is not None, "_start() first"
    began = time.monotonic()
    if began > start_by:  # queued behind bodies that took longer than measured
        raise Overloaded(f"waited {(began - since) * 1000:.0f} ms to be parsed")
    (job,) = prepare(_cfg, [validate(_request, body)])
    return job, began


def validate(model: type[BaseModel], body: bytes) -> Leads:
    """`body` validated as `model`, the config's request model."""
    try:
        request: Any = model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise Invalid(problems(exc)) from None
    one = request.lead is not None
    leads = [request.lead] if one else request.leads
    return Leads(leads, request.as_of, request.explain, request.top, one)


# ------------------------------------------------------------------ in the server process


class BodyParser:
    """The pool of parse processes for one request model (the config's), and its backlog."""

    def __init__(self, cfg: Config, processes: int | None = None) -> None:
        self.cfg = cfg
        self.request = schema.request_model(cfg)
        self.processes = processes or settings().parse_processes
        self.inline_bytes = INLINE_BYTES
        self.pool: ProcessPoolExecutor | None = None
        self.queued = 0  # bytes handed to the pool, not parsed yet
        self.pace = 0.0  # seconds of parsing per byte (moving average)
        self.restart: asyncio.Future | None = None  # a new pool starting, after a process died
        self._creating = threading.Lock()  # warm() runs in a thread at startup

    def _pool(self) -> ProcessPoolExecutor:
        with self._creating:
            if self.pool is None:
                self.pool = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),  # the server has threads
                    initializer=_start,
                    initargs=(self.cfg,),
                )
            return self.pool

    def warm(self, pool: ProcessPoolExecutor | None = None) -> None:
        """Start every process of `pool` (by default the current one) now (1-2 s each), not on
        the first requests."""
        pool = pool or self._pool()
        busy = [pool.submit(_ready, 0.5) for _ in range(self.processes)]
        for started in busy:
            started.result()

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A new pool for one that broke, started in the background; every request in flight
        on `broken` fails, and only the first to get here replaces it. Runs on the event loop."""
        if self.pool is not broken:
            return
        broken.shutdown(wait=False, cancel_futures=True)
        self.pool = None
        fresh = self._pool()
        self.restart = asyncio.get_running_loop().run_in_executor(None, self.warm, fresh)

    async def job(self, body: bytes, since: float) -> Job | Leads:
        """The job of a body that arrived at `since` (monotonic), or a small body's leads; raises
        Invalid (400), RejectedLeads (422) or Overloaded (503)."""
        if len(body) < self.inline_bytes:
            return validate(self.request, body)
        start_by = math.inf  # an idle pool parses any body, however long it takes
        if self.queued:
            ahead = self.queued * self.pace / self.processes
            start_by = since + settings().max_latency_ms / 1000 - len(body) * self.pace
            if time.monotonic() + ahead > start_by:
                raise Overloaded(f"{ahead * 1000:.0f} ms of bodies ahead of it to parse")
        pool = self._pool()
        self.queued += len(body)
        try:
            job, began = await asyncio.get_running_loop().run_in_executor(
                pool, to_job, body, since, start_by
            )
        except BrokenProcessPool:  # a process died (out of memory?): start afresh
            self._replace(pool)
            raise Overloaded("a parse process ended; retry") from None
        finally:
            self.queued -= len(body)
        if len(body) >= PACED_BYTES:
            took = (time.monotonic() - began) / len(body)
            self.pace = took if not self.pace else 0.8 * self.pace + 0.2 * took
        return job
