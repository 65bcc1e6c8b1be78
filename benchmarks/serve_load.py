"""Health checks and load shedding while the service is saturated with maximum-size requests.

    .venv/bin/python benchmarks/serve_load.py [--concurrency 32] [--seconds 20]

`--concurrency` clients post requests of 100 leads x 1,000 events (~6 MB, the largest the
service takes) as fast as they are answered, while a probe calls /livez and /readyz every 50 ms.
Prints the probes' p50/p99/max, and per status of /score how many answers and how long they
took: the documented budget is a 503 within LEADSCORE_MAX_LATENCY_MS (2 s) of arrival when
overloaded, and health checks that answer at once (target: /livez p99 under 100 ms).

The model: as benchmarks/serve.py finds or makes it (--bentoml-home, the registry, or trains).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import httpx
from serve import (
    BIN,
    REPO,
    SERVICE,
    bench_env,
    ensure_model,
    free_port,
    percentile,
    server,
    wait_ready,
)

EVENT_TYPES = ["web_visit", "email_open", "pricing_page", "webinar", "email_click"]


def max_body(leads: int = 100, events: int = 1000) -> bytes:
    def lead(i: int) -> dict:
        stamps = [f"2025-0{1 + j % 6}-{1 + j % 28:02d}T{j % 24:02d}:00:00Z" for j in range(events)]
        return {
            "lead_id": f"CRM-{i:05d}",
            "title": "VP Revenue Operations",
            "vertical": "Software",
            "employees": 850,
            "events": [
                {"type": EVENT_TYPES[j % len(EVENT_TYPES)], "timestamp": s}
                for j, s in enumerate(stamps)
            ],
        }

    return json.dumps(
        {"leads": [lead(i) for i in range(leads)], "as_of": "2025-07-01T00:00:00Z"}
    ).encode()


async def _clients(url: str, body: bytes, concurrency: int, until: float) -> dict[int, list]:
    answers: dict[int, list[float]] = defaultdict(list)
    headers = {"content-type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def client() -> None:
            while time.monotonic() < until:
                began = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                answers[status].append(time.perf_counter() - began)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return answers


def _probe(url: str, seconds: float) -> list[float]:
    """Call `url` every 50 ms for `seconds` (in a process of its own: the clients' event loop
    is busy sending 6 MB bodies and would delay the probe's answers)."""
    took: list[float] = []
    until = time.monotonic() + seconds
    with httpx.Client(timeout=60) as client:
        while time.monotonic() < until:
            began = time.perf_counter()
            client.get(url)
            took.append(time.perf_counter() - began)
            time.sleep(0.05)
    return took


def saturate(base: str, body: bytes, concurrency: int, seconds: float) -> None:
    until = time.monotonic() + seconds
    with ProcessPoolExecutor(2) as probes:
        livez = probes.submit(_probe, f"{base}/livez", seconds + 1)
        readyz = probes.submit(_probe, f"{base}/readyz", seconds + 1)
        answers = asyncio.run(_clients(f"{base}/score", body, concurrency, until))
        probed = {"/livez": livez.result(), "/readyz": readyz.result()}
    for name, took in probed.items():
        print(
            f"{name:8} n={len(took):4}  p50 {percentile(took, 0.5):7.1f} ms  "
            f"p99 {percentile(took, 0.99):7.1f} ms  max {max(took) * 1000:7.1f} ms"
        )
    for status, took in sorted(answers.items()):
        print(
            f"/score {status}: n={len(took):4}  p50 {percentile(took, 0.5):7.0f} ms  "
            f"max {max(took) * 1000:7.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--bentoml-home", default=os.environ.get("BENTOML_HOME"))
    args = parser.parse_args()
    body = max_body()
    print(f"body: {len(body) / 1e6:.1f} MB, {args.concurrency} clients, {args.seconds:.0f} s")
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="serve-load-")))
        env = bench_env(scratch, args.bentoml_home)
        print(f"model: {ensure_model(env)}")
        port = free_port()
        cmd = [str(BIN / "bentoml"), "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)]
        proc = stack.enter_context(server(cmd, env, REPO, scratch / "score.log"))
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(f"{base}/readyz", proc))
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        saturate(base, body, args.concurrency, args.seconds)


if __name__ == "__main__":
    main()
