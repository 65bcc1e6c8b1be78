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
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path

from endpoints import (
    BIN,
    bench_env,
    ensure_model,
    free_port,
    load,
    serve_noop,
    serve_scoring,
    server,
    summary,
    wait_ready,
)
from endpoints import REPO as REPO  # re-exported: benchmarks/serve_load.py imports them here
from endpoints import SERVICE as SERVICE
from endpoints import percentile as percentile

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
        ports: dict[str, int] = {}
        procs: dict[str, subprocess.Popen] = {}
        ports["noop"], procs["noop"] = serve_noop(stack, env, scratch / "noop.log")
        ports["score"], procs["score"] = serve_scoring(stack, env, scratch / "score.log")
        ports["mlflow"] = free_port()
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
    med = {key: summary(runs) for key, runs in results.items()}
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
