"""How fast the synthetic CRM is generated and written to SQLite.

    .venv/bin/python benchmarks/generate.py [--leads 100000] [--seed 7]

The machine is shared and noisy, so the same run also times a fixed reference workload (numpy
sorting 20M float64) and reports generation time as a multiple of it: compare that ratio
between runs and machines, not the raw seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from reference import reference_seconds

from training.synthetic import generate_world, write_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000, help="number of leads")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    args = parser.parse_args()

    reference = reference_seconds()
    began = time.perf_counter()
    world = generate_world(args.leads, args.seed)
    generation = time.perf_counter() - began
    events = len(world.activities)

    with tempfile.TemporaryDirectory() as folder:
        engine = sa.create_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        began = time.perf_counter()
        write_world(world, engine)
        writing = time.perf_counter() - began
        engine.dispose()

    print(f"leads                 {args.leads:>12,}")
    print(f"accounts              {len(world.accounts):>12,}")
    print(f"events                {events:>12,}  ({events / args.leads:.1f} per lead)")
    print(f"generation            {generation:>12.2f} s  ({events / generation:,.0f} events/s)")
    print(f"write to SQLite       {writing:>12.2f} s  ({events / writing:,.0f} events/s)")
    print(f"reference (sort 20M)  {reference:>12.2f} s")
    print(f"generation/reference  {generation / reference:>12.2f}")
    print(f"write/reference       {writing / reference:>12.2f}")


if __name__ == "__main__":
    main()
