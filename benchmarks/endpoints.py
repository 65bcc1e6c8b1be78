"""What the serving benchmarks share (benchmarks/serve.py, benchmarks/feedback_serve.py,
benchmarks/serve_load.py): the model in the BentoML store, the servers' environment, starting
the scoring service and the no-op BentoML endpoint (benchmarks/noop_service.py) for real, and
a keep-alive aiohttp load generator with its summary."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp

from scoring.cli.serving import SERVICE
from scoring.serving.process import stop

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BENTOML = [str(BIN / "bentoml"), "serve", "--host", "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(cmd: list[str], env: dict[str, str], cwd: Path, log: Path):
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop(proc)


def serve_noop(stack: ExitStack, env: dict[str, str], log: Path) -> tuple[int, subprocess.Popen]:
    """The no-op BentoML endpoint started on a free port (stopped with `stack`)."""
    port = free_port()
    cmd = [*BENTOML, "noop_service:Noop", "--port", str(port)]
    noop_env = env | {"PYTHONPATH": f"{REPO / 'benchmarks'}:{REPO}"}
    return port, stack.enter_context(server(cmd, noop_env, REPO / "benchmarks", log))


def serve_scoring(stack: ExitStack, env: dict[str, str], log: Path) -> tuple[int, subprocess.Popen]:
    """The scoring service started on a free port (stopped with `stack`)."""
    port = free_port()
    cmd = [*BENTOML, SERVICE, "--port", str(port)]
    return port, stack.enter_context(server(cmd, env, REPO, log))


async def wait_ready(url: str, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode} before {url} was ready")
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {seconds:.0f}s")


async def load(
    url: str, body: bytes | Callable[[], bytes], concurrency: int, requests: int, seconds: float
) -> dict:
    """`concurrency` workers posting `body` (or a new `body()` each request) until `requests`
    are done or `seconds` passed; an answer other than 200 counts as an error."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while len(latencies) + errors < requests and time.monotonic() < deadline:
                data = body if isinstance(body, bytes) else body()
                began = time.perf_counter()
                async with session.post(url, data=data, headers=headers) as resp:
                    await resp.read()
                    ok = resp.status == 200
                if ok:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    return {"latencies": latencies, "rps": len(latencies) / wall, "errors": errors}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def summary(runs: list[dict]) -> dict[str, float]:
    """Slices of one target: latency percentiles (ms) over all their requests, requests/s the
    median over slices, errors summed."""
    pooled = [x for r in runs for x in r["latencies"]]
    return {
        "p50": percentile(pooled, 0.5),
        "p99": percentile(pooled, 0.99),
        "rps": statistics.median(r["rps"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }


def ensure_model(env: dict[str, str]) -> str:
    """Make sure the BentoML store holds `lead-scoring`; returns where it came from."""
    check = "import bentoml; bentoml.models.get('lead-scoring:latest')"
    if subprocess.run([sys.executable, "-c", check], env=env, capture_output=True).returncode == 0:
        return "BentoML store"
    code = "from scoring.serving.store import import_champion; print(import_champion().tag)"
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if found.returncode == 0:
        return f"lead-scoring@champion ({env['MLFLOW_TRACKING_URI']})"
    print("no champion in the MLflow registry: training a 20k-lead demo model first (~2 min)")
    train = (
        "import sqlalchemy as sa\n"
        "from scoring.config import load_config\n"
        "from scoring.model import registry\n"
        "from training import tracking\n"
        "from training.pipeline.run import run_training\n"
        "from training.synthetic import generate_world, write_world\n"
        "url = 'sqlite:///leads.db'\n"
        "write_world(generate_world(20_000, seed=7), sa.create_engine(url))\n"
        f"cfg = load_config({str(REPO / 'configs' / 'demo.yaml')!r}).with_database(url)\n"
        "tracking.log_training(run_training(cfg, sa.create_engine(url)), {}, register=True)\n"
        "registry.promote(registry.setup(), 'latest')\n"
    )
    subprocess.run([sys.executable, "-c", train], env=env, cwd=env["SCRATCH"], check=True)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return "a demo model trained for this run"


def bench_env(scratch: Path, bentoml_home: str | None) -> dict[str, str]:
    """The servers' environment: no API token, the BentoML store, the MLflow registry."""
    env = os.environ | {
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "BENTOML_HOME": bentoml_home or str(scratch / "bentoml"),
        "MLFLOW_TRACKING_URI": os.environ.get(
            "MLFLOW_TRACKING_URI", f"sqlite:///{REPO / 'mlflow.db'}"
        ),
        "SCRATCH": str(scratch),
        "BENTOML_DO_NOT_TRACK": "true",
        "PYTHONPATH": str(REPO),
    }
    env.pop("LEADSCORE_API_TOKEN", None)
    return env
