"""How fast the handoff SLA clocks are computed on a large lead database (SQLite).

    .venv/bin/python benchmarks/sla.py [--db data/bench-funnel/world.db] [--leads 1000000]
        [--seed 7] [--repeats 2]

The database is the funnel benchmark's (benchmarks/funnel_report.py: the synthetic CRM, seed 7,
with stand-in scores and feedback), generated or completed when needed and reused otherwise.

Timed, best of --repeats: the crossings (the latest event before each handoff: the start of
marketing's delivery clock) as the database stores them, every time as text of one form; the
same after one event row is added in another text form (an offset, a T), so every time must be
normalised before it is compared (the row is removed afterwards); and the whole `sla_clocks`.
The machine is shared and noisy, so the same run times one pass over the event table's index
(a count of the rows with a time: the floor of any query that reads every event) and the
numpy-sort reference (benchmarks/reference.py): compare the ratios between runs, not the
seconds.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from funnel_report import CONFIG, prepared_world, world_arguments
from reference import best_seconds, reference_seconds

NOW = "2026-01-01"
STRAY_LEAD = "bench-sla-stray"


def _add_stray(engine: sa.Engine, table: str, columns: tuple[str, str, str]) -> None:
    lead, kind, at = columns
    with engine.begin() as conn:
        conn.execute(
            sa.text(f'INSERT INTO "{table}" ("{lead}", "{kind}", "{at}") VALUES (:l, :k, :t)'),
            {"l": STRAY_LEAD, "k": "web_visit", "t": "2024-01-01T09:00:00+01:00"},
        )


def _remove_stray(engine: sa.Engine, table: str, lead: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f'DELETE FROM "{table}" WHERE "{lead}" = :l'), {"l": STRAY_LEAD})


def main() -> None:
    args = world_arguments(__doc__.splitlines()[0])

    from scoring.config import load_config
    from scoring.monitoring.handoffs import crossings
    from scoring.monitoring.sla import sla_clocks

    engine = prepared_world(args)
    cfg = load_config(CONFIG).with_database(f"sqlite:///{args.db}")
    spec = cfg.events
    assert spec is not None, "the demo config has an event table"
    count = sa.text(f'SELECT COUNT(*) FROM "{spec.table}" WHERE "{spec.timestamp}" IS NOT NULL')
    with engine.connect() as conn:
        events = conn.execute(count).scalar_one()
        one_pass = best_seconds(args.repeats, lambda: conn.execute(count).all())
    sort = reference_seconds()
    print(f"events                              {events:>12,}")
    print(f"reference: one pass over the events {one_pass:>9.2f} s")
    print(f"reference: numpy sort of 20M floats {sort:>9.2f} s")
    print(f"{'':<36}{'seconds':>9} {'x one pass':>11} {'x sort':>8}")

    def show(name: str, seconds: float) -> None:
        print(f"{name:<36}{seconds:>9.2f} {seconds / one_pass:>11.1f} {seconds / sort:>8.1f}")

    show(
        "crossings, times of one text form",
        best_seconds(args.repeats, lambda: crossings(cfg, engine)),
    )
    _remove_stray(engine, spec.table, spec.lead_id)
    _add_stray(engine, spec.table, (spec.lead_id, spec.type, spec.timestamp))
    try:
        show(
            "crossings, one event in another form",
            best_seconds(args.repeats, lambda: crossings(cfg, engine)),
        )
    finally:
        _remove_stray(engine, spec.table, spec.lead_id)
    began = time.perf_counter()
    clocks = sla_clocks(cfg, engine, NOW)
    show(f"sla_clocks, once ({len(clocks):,} clocks)", time.perf_counter() - began)


if __name__ == "__main__":
    main()
