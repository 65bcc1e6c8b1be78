"""Batch rescoring speed and memory: full runs at 100k and 1M leads (with and without reasons)
and an incremental run after 2% of the leads changed, on SQLite; then a full and an
incremental run on the local PostgreSQL server, in the same session.

    .venv/bin/python benchmarks/rescore.py [--leads 1000000] [--small 100000]
        [--explain-leads 100000] [--workers 0] [--data data/bench-rescore]
        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test] [--pg-leads 100000]

PostgreSQL runs use scratch databases of their own (`leadscore_bench_world`, copied into
`leadscore_bench_work` as a template for each run), dropped at the end: they never meet the
tests' databases. `--pg ''` skips them.

Each run is a child process (worker pool included) whose peak memory is the largest sum of the
resident memory of the process tree, sampled every 0.1 s. Worlds (synthetic CRM, seed 7) and the
model (trained on the 20k-lead demo world) are cached in --data; every run rescores a fresh copy
of the world's database. The machine is shared and noisy: the same run times a fixed reference
workload (numpy sorting 20M float64); compare the rows/s x reference products between runs of
one session (the host under the machine, and so the reference, changes from day to day). The
CPU seconds of each run (its process and workers) tell whether it had the cores to itself: about
cores x time when it did, less when other work took them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import psutil
import sqlalchemy as sa
from reference import reference_seconds

REPO = Path(__file__).resolve().parents[1]
SEED = 7


def _world_db(folder: Path, leads: int) -> Path:
    from training.synthetic import generate_world, write_world

    path = folder / f"world-{leads}.db"
    if not path.exists():
        began = time.perf_counter()
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        write_world(generate_world(leads, SEED), sa.create_engine(f"sqlite:///{partial}"))
        partial.rename(path)
        print(f"  generated {leads:,} leads in {time.perf_counter() - began:.0f} s", flush=True)
    _index(path)
    return path


def _index(path: Path) -> None:
    """The lookup indexes rescoring creates on its first run, built once in the cached world so
    the runs measure steady state (the build time is printed)."""
    from scoring.config import load_config
    from scoring.data.database import ensure_indexes

    url = f"sqlite:///{path}"
    cfg = load_config(REPO / "configs" / "demo.yaml").with_database(url)
    began = time.perf_counter()
    created = ensure_indexes(cfg, sa.create_engine(url))
    if created:
        print(f"  {path.name}: {'; '.join(created)} in {time.perf_counter() - began:.0f} s")


def _scorer(folder: Path) -> Path:
    from scoring.config import load_config
    from training.pipeline.run import run_training

    path = folder / "scorer"
    if not (path / "scorer.json").exists():
        db = _world_db(folder, 20_000)
        url = f"sqlite:///{db}"
        cfg = load_config(REPO / "configs" / "demo.yaml").with_database(url)
        run_training(cfg, sa.create_engine(url)).scorer.save(path)
    return path


def _as_of() -> str:
    from training.synthetic import generate_world

    return str(generate_world(100, SEED).exported_at - timedelta(days=1))


_CPU_TIMES = ("user", "system", "children_user", "children_system")


def _child(args: argparse.Namespace) -> None:
    """One rescoring run; prints its figures as JSON on the last line."""
    from scoring.batch.rescore import Options, rescore
    from scoring.config import load_config

    url = args.url
    cfg = load_config(REPO / "configs" / "demo.yaml").with_database(url)
    options = Options(
        full=args.mode != "incremental",
        explain=args.mode == "explain",
        as_of=pd.Timestamp(args.as_of).to_pydatetime(),
        workers=args.workers,
        log_every=30.0,
    )
    before = os.times()
    summary = rescore(cfg, sa.create_engine(url), Path(args.scorer), "1", options)
    after = os.times()
    # this process and its workers (joined at the end of the run)
    cpu = sum(getattr(after, k) - getattr(before, k) for k in _CPU_TIMES)
    print(summary.to_text(), file=sys.stderr)
    figures = {"seconds": summary.seconds, "cpu_seconds": cpu, "leads": summary.leads}
    print(json.dumps(figures | summary.counts))


def _measure(args: argparse.Namespace, url: str, mode: str, as_of: str) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--url",
        url,
        "--mode",
        mode,
        "--scorer",
        str(args.scorer),
        "--as-of",
        as_of,
        "--workers",
        str(args.workers),
    ]
    figures = measured(command, f"{mode} run on {_shown(url)}")
    figures["rows_per_s"] = figures["leads"] / figures["seconds"]
    return figures


def measured(command: list[str], what: str) -> dict:
    """Run `command`, a child printing its figures as JSON on its last line: the figures, and
    `peak_mb`, the largest resident memory of its process tree (sampled every 0.1 s)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1]) | {"peak_mb": peak / 2**20}


def _shown(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _change(url: str, share: float, as_of: str) -> int:
    """Edit the title of half of `share` of the leads and give the other half a new event."""
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    leads = sa.Table("leads", meta, autoload_with=engine)
    events = sa.Table("activities", meta, autoload_with=engine)
    with engine.connect() as conn:
        ids = list(conn.scalars(sa.select(leads.c.lead_id).order_by(leads.c.lead_id)))
        next_event = conn.scalar(sa.select(sa.func.max(events.c.event_id))) + 1
    step = round(1 / share)
    changed = ids[::step]
    titles, active = changed[::2], changed[1::2]
    when = pd.Timestamp(as_of).to_pydatetime() - timedelta(hours=1)
    with engine.begin() as conn:
        edited = sa.case((leads.c.title == "Head of RevOps", "VP Sales"), else_="Head of RevOps")
        conn.execute(
            leads.update().where(leads.c.lead_id == sa.bindparam("id")).values(title=edited),
            [{"id": i} for i in titles],
        )
        conn.execute(
            events.insert(),
            [
                {
                    "event_id": next_event + k,
                    "lead_id": i,
                    "event_type": "pricing_page",
                    "occurred_at": when,
                }
                for k, i in enumerate(active)
            ],
        )
    engine.dispose()
    return len(changed)


PG_URL = os.environ.get(
    "LEADSCORE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_WORLD, PG_WORK = "leadscore_bench_world", "leadscore_bench_work"


class _Postgres:
    """Scratch databases on the server: the world once, a fresh copy of it for each run."""

    def __init__(self, server: str) -> None:
        self.url = sa.engine.make_url(server)
        self.admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.work = self.url.set(database=PG_WORK).render_as_string(hide_password=False)

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def _create(self, name: str, template: str | None = None) -> None:
        self._drop(name)
        copy = f' TEMPLATE "{template}"' if template else ""
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))

    def load(self, leads: int) -> None:
        from scoring.config import load_config
        from scoring.data.database import ensure_indexes
        from training.synthetic import generate_world, write_world

        began = time.perf_counter()
        self._create(PG_WORLD)
        engine = sa.create_engine(self.url.set(database=PG_WORLD))
        write_world(generate_world(leads, SEED), engine)
        cfg = load_config(REPO / "configs" / "demo.yaml")
        ensure_indexes(cfg.with_database(str(engine.url)), engine)
        engine.dispose()  # a template must have no connections
        print(f"  PostgreSQL world of {leads:,} leads in {time.perf_counter() - began:.0f} s")

    def fresh(self) -> str:
        self._create(PG_WORK, PG_WORLD)
        return self.work

    def close(self) -> None:
        for name in (PG_WORK, PG_WORLD):
            self._drop(name)
        self.admin.dispose()


@contextlib.contextmanager
def _postgres(server: str, leads: int) -> Iterator[_Postgres]:
    pg = _Postgres(server)
    try:
        pg.load(leads)
        yield pg
    finally:
        pg.close()


def _line(name: str, f: dict) -> str:
    return (
        f"{name:<30}{f['leads']:>11,}{f['evaluated']:>11,}{f['seconds']:>9.1f} s"
        f"{f['cpu_seconds']:>9.1f} s{f['rows_per_s']:>10,.0f}{f['reference']:>8.2f} s"
        f"{f['rows_per_s'] * f['reference']:>14,.0f}{f['peak_mb']:>10,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--explain-leads", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=0, help="0: one per core")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "bench-rescore")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pg", default=PG_URL, help="PostgreSQL server ('' to skip)")
    parser.add_argument("--pg-leads", type=int, default=100_000)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--scorer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    args.data.mkdir(parents=True, exist_ok=True)
    print("preparing worlds and the model (cached in", args.data, ")", flush=True)
    args.scorer = _scorer(args.data)
    as_of = _as_of()
    sizes = sorted({args.small, args.leads, args.explain_leads})
    worlds = {n: _world_db(args.data, n) for n in sizes}
    work = args.data / "work.db"
    rows: list[tuple[str, dict]] = []

    def run(name: str, n: int, mode: str, fresh: bool = True, url: str | None = None) -> dict:
        if fresh and url is None:
            shutil.copyfile(worlds[n], work)
        print(f"running: {name}", flush=True)
        before = reference_seconds(1)
        figures = _measure(args, url or f"sqlite:///{work}", mode, as_of)
        # the load of the shared machine during this run: the mean of a reference before and after
        figures["reference"] = (before + reference_seconds(1)) / 2
        scored = figures["written"] + figures["unchanged"]
        counted = figures["evaluated"] + figures["skipped"] + figures["failed"]
        if figures["evaluated"] != scored or figures["leads"] != counted:
            raise SystemExit(f"{name}: the run's counters do not add up: {figures}")
        rows.append((name, figures))
        return figures

    small = run(f"full, no reasons, {args.small:,}", args.small, "full")
    run(f"full, reasons, {args.explain_leads:,}", args.explain_leads, "explain")
    large = run(f"full, no reasons, {args.leads:,}", args.leads, "full")
    changed = _change(f"sqlite:///{work}", 0.02, as_of)
    run(f"incremental, {changed:,} changed", args.leads, "incremental", fresh=False)
    if args.pg:
        with _postgres(args.pg, args.pg_leads) as pg:
            run(f"PostgreSQL full, {args.pg_leads:,}", args.pg_leads, "full", url=pg.fresh())
            changed = _change(pg.work, 0.02, as_of)
            name = f"PostgreSQL incr., {changed:,} changed"
            run(name, args.pg_leads, "incremental", fresh=False, url=pg.work)

    print(f"\nas of {as_of}; workers {args.workers or 'one per core'}")
    print(
        f"{'run':<30}{'leads':>11}{'scored':>11}{'time':>11}{'cpu':>11}{'rows/s':>10}{'ref':>10}"
        f"{'rows/s x ref':>14}{'peak MB':>10}"
    )
    for name, figures in rows:
        print(_line(name, figures))
    print("ref: numpy sort of 20M float64 timed before and after the run: it moves with the load")
    print("of the shared machine, and with the host from day to day (compare code in one session);")
    print("cpu: the run's processes (parent and workers): near cores x time when the run had the")
    print("machine")
    ratio = large["peak_mb"] / small["peak_mb"]
    print(f"peak memory {args.leads:,} / {args.small:,} leads: {ratio:.2f}")
    work.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
