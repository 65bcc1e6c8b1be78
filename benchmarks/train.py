"""End-to-end training time on the synthetic CRM: load, point-in-time features, both models,
calibration, deal size, baselines and evaluation (the `leadscore train` pipeline without MLflow
logging, which is timed separately).

    .venv/bin/python benchmarks/train.py [--leads 100000] [--seed 7] [--tune-thresholds]

Target (issue 3): 100k leads end to end in under 5 minutes on this machine. With
`--tune-thresholds`, also the threshold study `leadscore train --tune-thresholds` runs (the
held-out replay and 300 trials), timed on its own line and in a second total.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from reference import booster_seconds, reference_seconds

from scoring.config import load_config
from training import tracking
from training.pipeline.plots import all_plots
from training.pipeline.run import run_training
from training.synthetic import generate_world, write_world
from training.thresholds import TuneSettings, tune_thresholds

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tune-thresholds", action="store_true", help="time the study too")
    args = parser.parse_args()
    reference, booster = reference_seconds(), booster_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'leads.db'}"
        write_world(generate_world(args.leads, args.seed), sa.create_engine(url))
        cfg = load_config(REPO / "configs" / "demo.yaml").with_database(url)
        began = time.perf_counter()
        result = run_training(cfg, sa.create_engine(url))
        trained = time.perf_counter() - began
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        # as `leadscore` off a terminal: the input example's check would draw a download bar
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.chdir(tmp)
        tuning, studied = None, 0.0
        if args.tune_thresholds:
            began = time.perf_counter()
            tuning = tune_thresholds(
                result.config, result.scorer, sa.create_engine(url), result.data, TuneSettings()
            )
            result = result.with_thresholds(tuning[0].thresholds())
            studied = time.perf_counter() - began
        began = time.perf_counter()
        plots = all_plots(result, Path(tmp) / "plots")
        tracking.log_training(result, plots, register=True, tuning=tuning)
        logged = time.perf_counter() - began
    total = trained + logged
    print(f"leads                 {args.leads:>10,}  ({len(result.data.label):,} closed)")
    print(f"train + evaluate      {trained:>10.1f} s")
    print(f"plots + MLflow log    {logged:>10.1f} s")
    print(f"end to end            {total:>10.1f} s  (target < 300 s)")
    if tuning is not None:
        replayed = len(tuning[1].timeline.at)
        print(f"threshold study       {studied:>10.1f} s  ({replayed:,} moments, 300 trials)")
        print(f"end to end with study {total + studied:>10.1f} s")
    print(f"reference (sort 20M)  {reference:>10.2f} s")
    print(f"end to end/reference  {total / reference:>10.0f}")
    print(f"reference (LightGBM)  {booster:>10.2f} s  (100k rows, 200 rounds)")
    print(f"end to end/LightGBM   {total / booster:>10.0f}")
    print(f"combined ROC AUC      {result.metrics['combined']['roc_auc']:>10.3f}")
    print(f"gate                  {result.gate.message}")


if __name__ == "__main__":
    main()
