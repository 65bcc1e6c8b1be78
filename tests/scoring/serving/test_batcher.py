"""The micro-batcher of the real-time service: batches under load, isolates a failing request,
sheds only past the latency budget, and never leaves a request unanswered (a cancelled one, or
a batch whose answers fail)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from scoring.serving.batcher import MicroBatcher, Overloaded


def test_micro_batcher_batches_under_load_and_isolates_failures() -> None:
    calls: list[list[int]] = []

    def run(jobs: list[int]) -> list[int]:
        calls.append(list(jobs))
        if any(j < 0 for j in jobs):
            raise ValueError("negative")
        time.sleep(0.01)
        return [j * 10 for j in jobs]

    batcher = MicroBatcher(run, max_batch_size=8, max_latency_ms=5000)

    async def main() -> list[Any]:
        jobs = [batcher.submit(j) for j in [1, 2, 3, -4, 5, 6]]
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(main())
    assert results[:3] == [10, 20, 30] and results[4:] == [50, 60]
    assert isinstance(results[3], ValueError)
    assert max(len(c) for c in calls) > 1  # requests that queued were scored together


def test_micro_batcher_sheds_only_past_the_latency_budget() -> None:
    batcher = MicroBatcher(lambda jobs: time.sleep(0.05) or jobs, 1, 20)

    async def main() -> list[Any]:
        return await asyncio.gather(*(batcher.submit(j) for j in range(3)), return_exceptions=True)

    results = asyncio.run(main())
    assert results[0] == 0
    assert any(isinstance(r, Overloaded) for r in results[1:])


def test_a_cancelled_request_never_leaves_the_others_unanswered() -> None:
    batcher = MicroBatcher(lambda jobs: jobs, 8, 2000)

    async def main() -> Any:
        fresh = asyncio.ensure_future(batcher.submit("fresh"))
        gone = asyncio.ensure_future(batcher.submit("gone", since=time.monotonic() - 10))
        await asyncio.sleep(0)  # both queued, past its budget the second
        gone.cancel()  # its client went away before the batcher took it
        return await asyncio.wait_for(fresh, 3)

    assert asyncio.run(main()) == "fresh"


def test_a_cancelled_request_leaves_the_queue_at_once() -> None:
    batcher = MicroBatcher(lambda jobs: time.sleep(0.3) or jobs, 8, 2000)

    async def main() -> list[Any]:
        running = asyncio.ensure_future(batcher.submit("running", size=9))  # in the thread
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(batcher.submit("waiting"))
        await asyncio.sleep(0)
        assert len(batcher.queue) == 1
        waiting.cancel()
        await asyncio.sleep(0)
        assert not batcher.queue
        return await asyncio.gather(running, waiting, return_exceptions=True)

    assert [type(r) for r in asyncio.run(main())] == [str, asyncio.CancelledError]


def test_a_batch_whose_answers_fail_still_answers_every_request() -> None:
    batcher = MicroBatcher(lambda jobs: time.sleep(0.05) or jobs[:1], 8, 2000)  # one answer short

    async def main() -> list[Any]:
        jobs = [batcher.submit(j) for j in range(3)]
        return await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), 3)

    first, *rest = asyncio.run(main())  # one batch of three, answered by zip(strict=True)
    assert first == 0 and [type(r) for r in rest] == [ValueError, ValueError]
