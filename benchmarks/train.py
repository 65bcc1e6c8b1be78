"""End-to-end training time on the synthetic CRM: load, point-in-time features, both models,
calibration, deal size, baselines and evaluation (the `leadscore train` pipeline without MLflow
logging, which is timed separately).

    .venv/bin/python benchmarks/train.py [--leads 100000] [--seed 7]

Target (issue 3): 100k leads end to end in under 5 minutes on this machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from reference import reference_seconds

from scoring.config import load_config
from training import tracking
from training.pipeline.plots import all_plots
from training.pipeline.run import run_training
from training.synthetic import generate_world, write_world

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    reference = reference_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'leads.db'}"
        write_world(generate_world(args.leads, args.seed), sa.create_engine(url))
        cfg = load_config(REPO / "configs" / "demo.yaml").with_database(url)
        began = time.perf_counter()
        result = run_training(cfg, sa.create_engine(url))
        trained = time.perf_counter() - began
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        os.chdir(tmp)
        began = time.perf_counter()
        tracking.log_training(result, all_plots(result, Path(tmp) / "plots"), register=True)
        logged = time.perf_counter() - began
    total = trained + logged
    print(f"leads                 {args.leads:>10,}  ({len(result.data.label):,} closed)")
    print(f"train + evaluate      {trained:>10.1f} s")
    print(f"plots + MLflow log    {logged:>10.1f} s")
    print(f"end to end            {total:>10.1f} s  (target < 300 s)")
    print(f"reference (sort 20M)  {reference:>10.2f} s")
    print(f"end to end/reference  {total / reference:>10.0f}")
    print(f"combined ROC AUC      {result.metrics['combined']['roc_auc']:>10.3f}")
    print(f"gate                  {result.gate.message}")


if __name__ == "__main__":
    main()
