"""Adaptive micro-batching of a CPU-bound batch function, with load shedding."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from scoring.settings import settings


class Overloaded(Exception):
    """A request waited longer than the latency budget: answered 503."""


@dataclass(eq=False)  # queue membership is identity
class _Pending:
    job: Any
    size: int
    since: float
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Adaptive micro-batching for a CPU-bound batch function.

    Idle: a job is run at once (no batching window, so no added latency). Busy: jobs queue while
    the current batch runs and the next batch takes all of them (up to `max_batch_size` units),
    so the batch size follows the load. A job that waited more than `max_latency_ms` is failed
    with `Overloaded`, and one whose request is cancelled leaves the queue. When a batch raises, its
    jobs are re-run one by one, so one bad request never fails the others.
    """

    def __init__(
        self,
        run: Callable[[list[Any]], list[Any]],
        max_batch_size: int | None = None,
        max_latency_ms: float | None = None,
    ) -> None:
        self.run = run
        self.max_batch_size = max_batch_size or settings().max_batch_size
        self.max_latency = (max_latency_ms or settings().max_latency_ms) / 1000
        self.queue: deque[_Pending] = deque()
        self.draining = False
        self._task: asyncio.Task | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score-batch")
        self.batches = 0
        self.largest = 0

    async def submit(self, job: Any, size: int = 1, since: float | None = None) -> Any:
        """The job's result; `since` (monotonic) is when the request arrived, default now. A job
        still queued when its budget runs out fails at once, not when the batch before ends."""
        loop = asyncio.get_running_loop()
        since = time.monotonic() if since is None else since
        pending = _Pending(job, size, since, loop.create_future())
        self.queue.append(pending)
        left = self.max_latency - (time.monotonic() - since)
        timer = loop.call_later(max(left, 0.0), self._expire, pending)
        pending.future.add_done_callback(lambda _: self._settled(pending, timer))
        if not self.draining:
            self.draining = True
            self._task = loop.create_task(self._drain())  # kept: tasks are weakly referenced
        return await pending.future

    def _settled(self, pending: _Pending, timer: asyncio.TimerHandle) -> None:
        """A job answered, or cancelled (its client went away): no timer, and out of the queue."""
        timer.cancel()
        if pending.future.cancelled() and pending in self.queue:
            self.queue.remove(pending)

    def _expire(self, pending: _Pending) -> None:
        """The job's budget ran out while it was queued (the batch ahead of it still running)."""
        if pending in self.queue:  # not taken into a batch yet
            self.queue.remove(pending)
            self._shed(pending, time.monotonic())

    @staticmethod
    def _shed(pending: _Pending, now: float) -> None:
        if not pending.future.done():
            waited = (now - pending.since) * 1000
            pending.future.set_exception(Overloaded(f"waited {waited:.0f} ms"))

    def _next_batch(self) -> list[_Pending]:
        """The next jobs to run; those past their budget, which the event loop (blocked by a
        batch scored in it) could not expire yet, are failed instead."""
        batch: list[_Pending] = []
        size, now = 0, time.monotonic()
        while self.queue and (not batch or size + self.queue[0].size <= self.max_batch_size):
            pending = self.queue.popleft()
            if pending.future.done():  # cancelled, its callback not run yet
                continue
            if now - pending.since > self.max_latency:
                self._shed(pending, now)
                continue
            batch.append(pending)
            size += pending.size
        return batch

    async def _drain(self) -> None:
        try:
            while self.queue:
                batch = self._next_batch()
                try:
                    await self._answer(batch)
                except Exception as exc:  # a job taken from the queue is answered, whatever
                    for pending in batch:
                        if not pending.future.done():
                            pending.future.set_exception(exc)
                await asyncio.sleep(0)  # let the requests that arrived meanwhile queue up
        finally:
            self.draining = False

    async def _answer(self, batch: list[_Pending]) -> None:
        if len(batch) == 1 and batch[0].size <= 8:  # idle: score it now, no thread hop
            outcomes = self._outcomes(batch)
        elif batch:  # busy: score in the worker thread, keep accepting requests
            loop = asyncio.get_running_loop()
            outcomes = await loop.run_in_executor(self.executor, self._outcomes, batch)
        else:
            return
        for pending, (ok, value) in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if ok:
                pending.future.set_result(value)
            else:
                pending.future.set_exception(value)

    def _outcomes(self, batch: list[_Pending]) -> list[tuple[bool, Any]]:
        """(True, result) or (False, exception) per job; a failed batch is re-run job by job."""
        self.batches += 1
        self.largest = max(self.largest, sum(p.size for p in batch))
        try:
            return [(True, r) for r in self.run([p.job for p in batch])]
        except Exception as exc:
            if len(batch) == 1:
                return [(False, exc)]
        return [self._outcomes([pending])[0] for pending in batch]
