"""How fast the shared funnel report runs on a large lead database (SQLite).

    .venv/bin/python benchmarks/funnel_report.py [--db data/bench-funnel/world-1000000.db]
        [--leads 1000000] [--seed 7] [--repeats 2]

The database is the synthetic CRM (seed 7), generated into --db when the file does not exist
(about 70 s for a million leads), reused otherwise. A world that has never been rescored nor
synced gets stand-ins, so every part of the report has its real volume: a lead_scores row per
lead (a win probability drawn from the lead id and the outcome: not a model's, only the join
and the grouping are measured) and lead_feedback rows made from the CRM's own history (a
contact attempt after each MQL, the SDR's decision with its reason, the AE's acceptance). Real
rows already there are left as they are.

The report runs in this process for every grouping (none, then each `--by`), best of
--repeats, then once as the `leadscore report funnel` command (start-up included) as a table in
total, by source and by month, and as json by source. The machine is shared and noisy, so the
same run times a reference query, one pass over the leads table (`SELECT lead_source, COUNT(*)
... GROUP BY lead_source`, the floor of any report that reads every lead), and a plain
`SELECT COUNT(*)`: every figure is also given as a multiple of that one pass ("x one pass");
compare those ratios between runs and machines, not the seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from reference import best_seconds

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "demo.yaml"
GROUPINGS = (None, "source", "grade", "score_band", "month")
COMMANDS = ((None, "table"), ("source", "table"), ("month", "table"), ("source", "json"))


def _world(path: Path, leads: int, seed: int) -> None:
    if path.exists():
        return
    from training.synthetic import generate_world, write_world

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    began = time.perf_counter()
    write_world(generate_world(leads, seed), sa.create_engine(f"sqlite:///{partial}"))
    partial.rename(path)
    print(f"generated {leads:,} leads into {path} in {time.perf_counter() - began:.0f} s")


def _has_rows(engine: sa.Engine, table: str) -> bool:
    if not sa.inspect(engine).has_table(table):
        return False
    with engine.connect() as conn:
        return conn.execute(sa.text(f'SELECT 1 FROM "{table}" LIMIT 1')).first() is not None


def _stand_in_scores(engine: sa.Engine) -> None:
    """A lead_scores row per lead: a probability from the lead's rowid, higher for won leads."""
    from scoring.batch.tables import create

    create(engine)
    p = (
        "(CASE WHEN outcome = 'won' THEN 0.15 ELSE 0.0 END"
        " + ((rowid * 2654435761) % 1000) / 1000.0 * 0.5)"
    )
    grade = f"CASE WHEN {p} >= 0.4 THEN 'A1' WHEN {p} >= 0.2 THEN 'B2' ELSE 'C3' END"
    stage = f"CASE WHEN {p} >= 0.4 THEN 'sql' WHEN {p} >= 0.2 THEN 'mql' ELSE 'nurture' END"
    insert = f"""
        INSERT INTO lead_scores (lead_id, model_version, scored_at, win_probability, stage,
                                 grade, input_hash, next_check_at, run_id)
        SELECT lead_id, 'stand-in', '2026-01-01 00:00:00', {p}, {stage}, {grade}, '-',
               '2026-02-01 00:00:00', 0
        FROM leads"""
    with engine.begin() as conn:
        conn.execute(sa.text(insert))


def _stand_in_feedback(engine: sa.Engine) -> None:
    """lead_feedback rows from the CRM's history columns: a contact attempt some hours after
    each MQL, the SDR's decision (with its reason, mapped to the config's names), and the AE's
    acceptance at the SQL time."""
    from scoring.config import load_config
    from scoring.feedback.table import create

    create(engine)
    cfg = load_config(CONFIG)
    mapping = {
        raw: name for name, raws in cfg.feedback.sdr_reasons.items() for raw in [name, *raws]
    }
    reason = (
        "CASE lower(sdr_reject_reason) "
        + " ".join(f"WHEN '{raw}' THEN '{name}'" for raw, name in mapping.items())
        + " END"
    )
    columns = "feedback_id, lead_id, kind, occurred_at, reason, origin, digest, recorded_at"
    rows = {
        "contact_attempt": (
            "datetime(mql_at, '+' || ((rowid * 7919) % 72) || ' hours')",
            "NULL",
            "mql_at IS NOT NULL",
        ),
        "sdr_accepted": ("sal_at", "NULL", "sdr_decision = 'accepted' AND sal_at IS NOT NULL"),
        "sdr_rejected": (
            "datetime(mql_at, '+' || (1 + (rowid * 7919) % 72) || ' hours')",
            reason,
            "sdr_decision = 'rejected'",
        ),
        "ae_accepted": ("sql_at", "NULL", "sql_at IS NOT NULL"),
    }
    with engine.begin() as conn:
        for kind, (at, why, where) in rows.items():
            conn.execute(
                sa.text(
                    f"INSERT INTO lead_feedback ({columns}) SELECT '{kind}:' || lead_id, lead_id, "
                    f"'{kind}', {at}, {why}, 'import', '-', '2026-01-01 00:00:00' FROM leads "
                    f"WHERE {where}"
                )
            )


def _prepare(path: Path) -> sa.Engine:
    from scoring.config import load_config
    from scoring.data.database import ensure_indexes

    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    began = time.perf_counter()
    created = ensure_indexes(load_config(CONFIG).with_database(url), engine)
    if not _has_rows(engine, "lead_scores"):
        _stand_in_scores(engine)
        created.append("stand-in lead_scores")
    if not _has_rows(engine, "lead_feedback"):
        _stand_in_feedback(engine)
        created.append("stand-in lead_feedback")
    if created:
        print(f"prepared: {'; '.join(created)} in {time.perf_counter() - began:.0f} s")
    return engine


def world_arguments(description: str) -> argparse.Namespace:
    """The command line of a benchmark on this world: --db, --leads, --seed, --repeats."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", type=Path, default=REPO / "data" / "bench-funnel" / "world.db")
    parser.add_argument("--leads", type=int, default=1_000_000, help="when generating")
    parser.add_argument("--seed", type=int, default=7, help="when generating")
    parser.add_argument("--repeats", type=int, default=2)
    return parser.parse_args()


def prepared_world(args: argparse.Namespace) -> sa.Engine:
    """The world database of `args`, generated and given its stand-ins when needed."""
    _world(args.db, args.leads, args.seed)
    return _prepare(args.db)


def main() -> None:
    args = world_arguments(__doc__.splitlines()[0])

    from scoring.config import load_config
    from scoring.monitoring.funnel import funnel_report

    engine = prepared_world(args)
    url = f"sqlite:///{args.db}"
    cfg = load_config(CONFIG).with_database(url)
    with engine.connect() as conn:
        leads = conn.execute(sa.text("SELECT COUNT(*) FROM leads")).scalar_one()

        def count() -> None:
            conn.execute(sa.text("SELECT COUNT(*) FROM leads")).all()

        def scan() -> None:
            conn.execute(sa.text("SELECT lead_source, COUNT(*) FROM leads GROUP BY 1")).all()

        counting = best_seconds(args.repeats, count)
        reference = best_seconds(args.repeats, scan)
    print(f"leads                          {leads:>12,}")
    print(f"reference: SELECT COUNT(*)     {counting:>9.2f} s")
    print(f"reference: one pass, GROUP BY  {reference:>9.2f} s")
    print(f"{'report':<36} {'seconds':>9} {'leads/s':>12} {'x one pass':>11}")
    now = "2026-01-01"
    for by in GROUPINGS:
        seconds = best_seconds(args.repeats, lambda by=by: funnel_report(cfg, engine, by, now))
        name = f"funnel --by {by}" if by else "funnel (total)"
        print(f"{name:<36} {seconds:>9.2f} {leads / seconds:>12,.0f} {seconds / reference:>11.1f}")
    print("the command, start-up included (once each):")
    for by, form in COMMANDS:
        seconds = _command(url, now, by, form)
        name = f"  report funnel{f' --by {by}' if by else ''} -f {form}"
        print(f"{name:<36} {seconds:>9.2f} {leads / seconds:>12,.0f} {seconds / reference:>11.1f}")


def _command(url: str, now: str, by: str | None, form: str) -> float:
    command = [str(Path(sys.executable).with_name("leadscore")), "report", "funnel"]
    command += ["-c", str(CONFIG), "--db", url, "--as-of", now, "--format", form]
    command += ["--by", by] if by else []
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
