"""POST /feedback latency and throughput: the BentoML service (`scoring.service`) started for real
on a demo lead database, next to the no-op BentoML endpoint's /feedback route
(benchmarks/noop_service.py), measured in the same run.

    .venv/bin/python benchmarks/feedback_serve.py [--db sqlite] [--db postgresql] [--rounds 6]

The lead database: `leadscore generate --leads 20000` into a scratch SQLite file, and with
`--db postgresql` also into a fresh database of the server at --pg-url (created, then dropped);
each gets a service of its own (LEADSCORE_LEAD_DB). The model: as benchmarks/serve.py finds or
makes it (--bentoml-home, the registry, or trains a demo model).

Measured, from a keep-alive aiohttp client on 127.0.0.1, in short interleaved slices (`--rounds`
of each; the machine is shared and noisy, so every endpoint sees the same load): one feedback
item per request at concurrency 1 and 16 (p50/p99 latency, requests/s), and batches of
--batch-size items (items/s), each against the no-op endpoint. Every request to "new" carries
feedback ids never sent before (real writes); "replay" resends ids the service has stored
already, with the same content (the idempotent path: checked, nothing written). The no-op gets
new bodies of the same shape. At the end the rows of lead_feedback are counted against the
items the service said it stored.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from endpoints import (
    BIN,
    REPO,
    bench_env,
    ensure_model,
    load,
    serve_noop,
    serve_scoring,
    summary,
    wait_ready,
)

from scoring.config import load_config

NOOP = "no-op BentoML endpoint"
SEED_ITEMS = 2000  # stored before measuring: what "replay" resends (and the warm-up)
KINDS = (
    {"kind": "contact_attempt", "channel": "call"},
    {"kind": "sdr_accepted", "rating": 4},
    {"kind": "sdr_rejected", "reason": "bad_fit", "rating": 2},
    {"kind": "contact_attempt", "channel": "email"},
)


class Feedback:
    """Feedback bodies for one lead database: item `n` is always the same (id, lead, kind), so
    the first `stored` items can be sent again as replays."""

    def __init__(self, prefix: str, leads: list[str], occurred_at: str) -> None:
        self.prefix, self.leads, self.occurred_at = prefix, leads, occurred_at
        self.sent = 0  # items 0 .. sent-1 have been handed out as new
        self._replayed = itertools.count()

    def item(self, n: int) -> dict:
        lead = self.leads[n % len(self.leads)]
        base = {"id": f"{self.prefix}-{n}", "lead_id": lead, "occurred_at": self.occurred_at}
        return base | KINDS[n % len(KINDS)]

    def body(self, numbers: range) -> bytes:
        return json.dumps({"feedback": [self.item(n) for n in numbers]}).encode()

    def new(self, size: int) -> Callable[[], bytes]:
        def make() -> bytes:
            first, self.sent = self.sent, self.sent + size
            return self.body(range(first, first + size))

        return make

    def replay(self, size: int, stored: int) -> Callable[[], bytes]:
        """Bodies of `size` items among the first `stored`, which the service has stored."""

        def make() -> bytes:
            first = next(self._replayed) * size % (stored - size + 1)
            return self.body(range(first, first + size))

        return make


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, body, {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def lead_database(
    kind: str, scratch: Path, pg_url: str, stack: ExitStack, env: dict, leads: int
) -> str:
    """A new demo lead database of `kind` (sqlite, postgresql): its URL."""
    if kind == "sqlite":
        url = f"sqlite:///{scratch / 'leads.db'}"
    else:
        name = f"feedback_bench_{os.getpid()}"
        admin = sa.create_engine(f"{pg_url}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        stack.callback(drop)
        url = f"{pg_url}/{name}"
    began = time.perf_counter()
    cmd = [str(BIN / "leadscore"), "generate", "--leads", str(leads), "--db", url]
    subprocess.run(cmd, env=env, cwd=scratch, check=True, capture_output=True)
    print(f"{kind}: leadscore generate --leads {leads} took {time.perf_counter() - began:.0f} s")
    return url


def lead_ids(url: str, before: datetime, limit: int = 5000) -> list[str]:
    """Leads created before `before` (feedback must not predate its lead)."""
    spec = load_config(str(REPO / "configs" / "demo.yaml")).leads
    engine = sa.create_engine(url)
    leads = sa.Table(spec.table, sa.MetaData(), autoload_with=engine)
    key, created = leads.c[spec.id], leads.c[spec.created_at]
    query = sa.select(key).where(created < before).order_by(key).limit(limit)
    with engine.connect() as conn:
        found = [str(r[0]) for r in conn.execute(query)]
    engine.dispose()
    return found


def stored_rows(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM lead_feedback")).scalar_one()
    engine.dispose()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", choices=("sqlite", "postgresql"))
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--requests", type=int, default=100, help="per slice, 1 item, conc 1")
    parser.add_argument("--batches", type=int, default=10, help="per slice, batches, conc 1")
    parser.add_argument("--seconds", type=float, default=1.5, help="per slice, concurrency 16")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved slices per target")
    parser.add_argument("--bentoml-home", default=os.environ.get("BENTOML_HOME"))
    args = parser.parse_args()
    kinds = args.db or ["sqlite"]

    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="feedback-bench-")))
        env = bench_env(scratch, args.bentoml_home)
        print(f"model: {ensure_model(env)}")
        occurred = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
        run = uuid.uuid4().hex[:8]
        urls = {k: lead_database(k, scratch, args.pg_url, stack, env, args.leads) for k in kinds}
        noop_port, noop = serve_noop(stack, env, scratch / "noop.log")
        services = {
            k: serve_scoring(stack, env | {"LEADSCORE_LEAD_DB": url}, scratch / f"{k}.log")
            for k, url in urls.items()
        }
        asyncio.run(wait_ready(f"http://127.0.0.1:{noop_port}/readyz", noop))
        for port, proc in services.values():
            asyncio.run(wait_ready(f"http://127.0.0.1:{port}/readyz", proc))

        at = f"{occurred.isoformat()}Z"
        noop_url = f"http://127.0.0.1:{noop_port}/feedback"
        noop_items = Feedback(f"noop-{run}", ["lead"], at)
        feedback = {
            k: Feedback(f"bench-{run}-{k}", lead_ids(url, occurred), at) for k, url in urls.items()
        }
        for k, (port, _) in services.items():
            seed(f"http://127.0.0.1:{port}/feedback", feedback[k], args.batch_size)
        targets: dict[str, tuple[str, Feedback, bool]] = {NOOP: (noop_url, noop_items, False)}
        for k, (port, _) in services.items():
            url = f"http://127.0.0.1:{port}/feedback"
            targets[f"{k}, new ids"] = (url, feedback[k], False)
            targets[f"{k}, replays"] = (url, feedback[k], True)

        results: dict[tuple[int, int, str], list[dict]] = {}
        load_before = os.getloadavg()[0]
        for _ in range(args.rounds):
            for size, concurrency in itertools.product((1, args.batch_size), (1, 16)):
                for name, (url, items, replay) in targets.items():
                    make = items.replay(size, SEED_ITEMS) if replay else items.new(size)
                    if concurrency == 16:
                        limit, seconds = 10**9, args.seconds
                    else:
                        limit, seconds = (args.requests if size == 1 else args.batches), 30.0
                    done = asyncio.run(load(url, make, concurrency, limit, seconds))
                    results.setdefault((size, concurrency, name), []).append(done)
        report(results, args.rounds)
        print(f"load average (1 min) before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}")
        for k, url in urls.items():
            said = (
                SEED_ITEMS
                + 1
                + sum(
                    len(r["latencies"]) * size
                    for (size, _, name), runs in results.items()
                    if name == f"{k}, new ids"
                    for r in runs
                )
            )
            print(f"{k}: {stored_rows(url)} rows in lead_feedback, {said} stored per the answers")
            log = (scratch / f"{k}.log").read_text()
            if (failed := log.count("feedback not stored")) or "Traceback" in log:
                print(f"{k}: {failed} 'feedback not stored' warnings in the log; its tail:")
                print(log[-2000:])


def seed(url: str, items: Feedback, batch_size: int) -> None:
    """Store the first SEED_ITEMS items (warming the service up), and check that a new item is
    stored and a replay is a duplicate."""
    for first in range(0, SEED_ITEMS, batch_size):
        numbers = range(first, min(first + batch_size, SEED_ITEMS))
        status, answer = post(url, items.body(numbers))
        if status != 200 or len(answer["stored"]) != len(numbers):
            raise RuntimeError(f"seeding {url}: {status} {str(answer)[:500]}")
    items.sent = SEED_ITEMS
    status, answer = post(url, items.new(1)())
    assert status == 200 and answer["stored"] == [items.item(SEED_ITEMS)["id"]], answer
    status, answer = post(url, items.replay(1, SEED_ITEMS)())
    assert status == 200 and answer["stored"] == [] and len(answer["duplicates"]) == 1, answer


def report(results: dict[tuple[int, int, str], list[dict]], rounds: int) -> None:
    print(
        f"\nPOST /feedback, 127.0.0.1; {rounds} interleaved rounds: latency percentiles over all "
        "requests, req/s the median over rounds, items/s = req/s x items per request; "
        "'vs no-op' is the p50 latency as a multiple of the no-op's, and the share of its "
        "throughput"
    )
    head = f"{'items':>5}{'conc':>5}  {'endpoint':<24}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}"
    print(f"{head}{'items/s':>9}{'errors':>7}  {'vs no-op':>14}")
    for (size, conc, name), runs in sorted(results.items(), key=lambda kv: kv[0][:2]):
        m, base = summary(runs), summary(results[(size, conc, NOOP)])
        ratio = (
            "" if name == NOOP else f"x{m['p50'] / base['p50']:.1f} {m['rps'] / base['rps']:4.0%}"
        )
        print(
            f"{size:>5}{conc:>5}  {name:<24}{m['p50']:>8.1f}{m['p99']:>8.1f}{m['rps']:>8.0f}"
            f"{m['rps'] * size:>9.0f}{m['errors']:>7}  {ratio:>14}"
        )


if __name__ == "__main__":
    main()
