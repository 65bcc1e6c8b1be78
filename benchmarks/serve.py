"""Real-time scoring latency and throughput: the BentoML service (`scoring.service`) started for
real, next to a no-op BentoML endpoint (benchmarks/noop_service.py) and `mlflow models serve` on
the same registered model, all measured in the same run.

    .venv/bin/python benchmarks/serve.py [--requests 100] [--seconds 1.5] [--rounds 8]

One lead per request (a CRM webhook), with reasons and without, at concurrency 1 and 16, from a
keep-alive aiohttp client on 127.0.0.1. The machine is shared and noisy: the endpoints are
measured in short interleaved slices (`--rounds` of each), so they see the same load. The
targets (issue 5), against the no-op endpoint measured in the same slices: one lead with reasons
within 3 ms of the no-op p50 at concurrency 1, and at least 60% of its throughput at
concurrency 16.

The model: `lead-scoring` from the BentoML store in --bentoml-home, else lead-scoring@champion
imported from the MLflow registry (MLFLOW_TRACKING_URI, default sqlite:///mlflow.db, i.e. after
`make run`), else a 20k-lead demo model trained and registered in a scratch folder first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp

from scoring.cli.serving import SERVICE
from scoring.serving.process import stop

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LEAD = {
    "lead_id": "CRM-00042",
    "title": "VP Revenue Operations",
    "vertical": "Software",
    "region": "EMEA",
    "country": "Germany",
    "employees": 850,
    "annual_revenue": 120_000_000,
    "tech_stack": "Salesforce;Snowflake;Slack",
    "lead_source": "webinar",
}
EVENTS = [
    {"type": "webinar", "timestamp": "2025-05-20T15:00:00Z"},
    {"type": "email_click", "timestamp": "2025-05-26T08:12:00Z"},
    {"type": "pricing_page", "timestamp": "2025-05-29T10:02:00Z"},
    {"type": "pricing_page", "timestamp": "2025-05-30T16:40:00Z"},
    {"type": "demo_request", "timestamp": "2025-05-31T09:15:00Z"},
]
AS_OF = "2025-06-01T00:00:00Z"


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


async def load(url: str, body: bytes, concurrency: int, requests: int, seconds: float) -> dict:
    """`concurrency` workers posting `body` until `requests` are done or `seconds` passed."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while len(latencies) + errors < requests and time.monotonic() < deadline:
                began = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
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


def mlflow_body() -> bytes:
    record = {k: str(v) for k, v in LEAD.items()}
    record |= {"as_of": AS_OF, "events": json.dumps(EVENTS)}
    return json.dumps({"dataframe_records": [record]}).encode()


def bento_body(explain: bool) -> bytes:
    return json.dumps(
        {"lead": LEAD | {"events": EVENTS}, "as_of": AS_OF, "explain": explain}
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="per slice, concurrency 1")
    parser.add_argument("--seconds", type=float, default=1.5, help="per slice, concurrency 16")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved slices per target")
    parser.add_argument("--bentoml-home", default=os.environ.get("BENTOML_HOME"))
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()

    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="serve-bench-")))
        env = bench_env(scratch, args.bentoml_home)
        print(f"model: {ensure_model(env)}")
        ports = {"noop": free_port(), "score": free_port(), "mlflow": free_port()}
        bentoml = [str(BIN / "bentoml"), "serve", "--host", "127.0.0.1"]
        procs = {
            "noop": stack.enter_context(
                server(
                    [*bentoml, "noop_service:Noop", "--port", str(ports["noop"])],
                    env | {"PYTHONPATH": f"{REPO / 'benchmarks'}:{REPO}"},
                    REPO / "benchmarks",
                    scratch / "noop.log",
                )
            ),
            "score": stack.enter_context(
                server(
                    [*bentoml, SERVICE, "--port", str(ports["score"])],
                    env,
                    REPO,
                    scratch / "score.log",
                )
            ),
        }
        mlflow_note = ""
        if not args.skip_mlflow:
            cmd = [
                str(BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                "models:/lead-scoring@champion",
                "--env-manager",
                "local",
                "--host",
                "127.0.0.1",
                "-p",
                str(ports["mlflow"]),
                "-w",
                "1",
            ]
            procs["mlflow"] = stack.enter_context(server(cmd, env, scratch, scratch / "mlflow.log"))
        ready = {name: f"http://127.0.0.1:{ports[name]}/readyz" for name in ("noop", "score")}
        ready["mlflow"] = f"http://127.0.0.1:{ports['mlflow']}/ping"
        for name, proc in procs.items():
            try:
                asyncio.run(wait_ready(ready[name], proc))
            except (RuntimeError, TimeoutError) as exc:
                if name != "mlflow":
                    raise
                log = (scratch / "mlflow.log").read_text()[-1500:]
                mlflow_note = f"mlflow models serve could not run here: {exc}\n{log}"
                procs.pop("mlflow")
                break
        targets = {
            "no-op BentoML endpoint": (ports["noop"], "/score", bento_body(True)),
            "score, with reasons": (ports["score"], "/score", bento_body(True)),
            "score, explain=false": (ports["score"], "/score", bento_body(False)),
        }
        if "mlflow" in procs:
            targets["mlflow models serve (pyfunc)"] = (
                ports["mlflow"],
                "/invocations",
                mlflow_body(),
            )
        for port, path, body in targets.values():  # warm-up, not measured
            asyncio.run(load(f"http://127.0.0.1:{port}{path}", body, 4, 200, 10))
        results: dict[tuple[str, int], list[dict[str, float]]] = {}
        load_before = os.getloadavg()[0]
        for _ in range(args.rounds):  # short slices, targets interleaved: the same machine load
            for concurrency in (1, 16):
                for name, (port, path, body) in targets.items():
                    limit = args.requests if concurrency == 1 else 10**9
                    seconds = 30.0 if concurrency == 1 else args.seconds
                    if name.startswith("mlflow") and concurrency == 1:
                        limit = max(10, args.requests // 8)
                    url = f"http://127.0.0.1:{port}{path}"
                    run = asyncio.run(load(url, body, concurrency, limit, seconds))
                    results.setdefault((name, concurrency), []).append(run)
        report(results, args.rounds)
        print(f"load average (1 min) before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}")
        if mlflow_note:
            print("\n" + mlflow_note)


def report(results: dict[tuple[str, int], list[dict]], rounds: int) -> None:
    med = {}
    for key, runs in results.items():
        pooled = [x for r in runs for x in r["latencies"]]
        med[key] = {
            "p50": percentile(pooled, 0.5),
            "p99": percentile(pooled, 0.99),
            "rps": statistics.median(r["rps"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
        }
    print(
        f"\none lead per request, 127.0.0.1; {rounds} interleaved rounds: latency percentiles "
        "over all requests, requests/s the median over rounds"
    )
    print(f"{'endpoint':<32}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'errors':>8}")
    for (name, conc), m in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(
            f"{name:<32}{conc:>5}{m['p50']:>9.2f}{m['p99']:>9.2f}{m['rps']:>9.0f}{m['errors']:>8}"
        )
    noop1, noop16 = med[("no-op BentoML endpoint", 1)], med[("no-op BentoML endpoint", 16)]
    with1, with16 = med[("score, with reasons", 1)], med[("score, with reasons", 16)]
    gap = with1["p50"] - noop1["p50"]
    share = with16["rps"] / noop16["rps"]
    print(
        f"\nwith reasons vs no-op, concurrency 1: p50 +{gap:.2f} ms "
        f"(target <= 3 ms: {'met' if gap <= 3 else 'NOT met'})"
    )
    print(
        f"with reasons vs no-op, concurrency 16: {share:.0%} of its throughput "
        f"(target >= 60%: {'met' if share >= 0.6 else 'NOT met'})"
    )
    key = ("mlflow models serve (pyfunc)", 1)
    if key in med:
        print(
            f"mlflow models serve, concurrency 1: p50 {med[key]['p50']:.1f} ms, "
            f"{med[key]['p50'] / with1['p50']:.1f}x the BentoML service with reasons"
        )


if __name__ == "__main__":
    main()
