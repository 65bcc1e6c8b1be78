"""The CRM feedback sync (`sync_crm`, the start of every rescoring run) on the synthetic world's
sales_activities: a first sync into an empty lead_feedback, a sync with nothing new, one after
`--edit-share` of the activities were edited in the CRM, and, as the in-run reference, a sync that
checks every row again (lead_feedback_crm_rows emptied: every row is checked, as every sync did
before that table, and remembered again).

    .venv/bin/python benchmarks/feedback_sync.py [--leads 1000000] [--edit-share 0.01]
        [--data data/bench-rescore]

The world (seed 7) is cached in --data, shared with benchmarks/rescore.py; each run syncs a fresh
copy of its database. The machine is shared and noisy: compare the ratios to the reference sync
of the same run, and the numpy-sort reference printed with them.
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from reference import reference_seconds
from rescore import REPO, _world_db

from scoring.config import load_config
from scoring.feedback.crm import sync_crm
from scoring.feedback.table import CRM_ROWS


def _timed(cfg, engine: sa.Engine, now: datetime, name: str) -> float:
    began = time.perf_counter()
    done = sync_crm(cfg, engine, now)
    seconds = time.perf_counter() - began
    assert done is not None
    print(f"  {name:<44}{seconds:8.1f} s   {done.to_text('sync')}", flush=True)
    return seconds


def _edit(engine: sa.Engine, share: float) -> int:
    """Move `share` of the activities a minute later, as an edit in the CRM would."""
    every = max(round(1 / share), 1)
    with engine.begin() as conn:
        edited = conn.execute(
            sa.text(
                "UPDATE sales_activities SET occurred_at = datetime(occurred_at, '+1 minute') "
                f"WHERE activity_id % {every} = 0"
            )
        )
    return edited.rowcount


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--edit-share", type=float, default=0.01)
    parser.add_argument("--data", type=Path, default=REPO / "data" / "bench-rescore")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    world = _world_db(args.data, args.leads)
    work = args.data / "sync.db"
    shutil.copyfile(world, work)
    url = f"sqlite:///{work}"
    cfg = load_config(REPO / "configs" / "demo.yaml").with_database(url)
    engine = sa.create_engine(url)
    now = datetime.now()
    with engine.connect() as conn:
        activities = conn.execute(sa.text("SELECT count(*) FROM sales_activities")).scalar_one()
    reference = reference_seconds()
    print(f"{args.leads:,} leads, {activities:,} sales activities; reference {reference:.2f} s")
    first = _timed(cfg, engine, now, "first sync (lead_feedback empty)")
    steady = _timed(cfg, engine, now, "nothing new")
    edited = _edit(engine, args.edit_share)
    changed = _timed(cfg, engine, now, f"{edited:,} activities edited")
    with engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {CRM_ROWS}"))
    every = _timed(cfg, engine, now, "every row checked again (reference)")
    print(f"reference {reference_seconds():.2f} s (numpy sort of 20M float64)")
    print(f"nothing new: {steady / every:.2f} x the sync that checks every row ({every:.1f} s)")
    print(
        f"{args.edit_share:.0%} edited: {changed / every:.2f} x; first sync {first / every:.2f} x"
    )
    work.unlink()


if __name__ == "__main__":
    main()
