"""Batch rescoring on Spark next to the single-machine engine, in one run: full runs of the
1M-lead world on SQLite (Spark reads it over JDBC and writes lead_scores through the same
writer), with and without reasons; the Spark job into Parquet (no database write); and
`mlflow.pyfunc.spark_udf` over the registered pyfunc, the alternative to the grouped pandas
function, with each lead's events aggregated into its row (the same work as the Spark job into
Parquet: no reasons, no database).

    .venv/bin/python benchmarks/rescore_spark.py [--leads 1000000] [--explain-leads LEADS]
        [--pyfunc-leads LEADS] [--master local[2]] [--driver-memory 4g]
        [--data data/bench-rescore]

A run into the database ends, on either engine, with the same work on one machine: the CRM's
sales activity copied into lead_feedback, then the SLA check. Its time is printed apart
("tail"), so the scoring columns compare the engines' own work.

Worlds and the model are benchmarks/rescore.py's (cached in --data). Each run is a child
process; its peak memory is the largest resident memory of its process tree (for Spark: the
JVM, the driver and the Python workers). The machine is shared and noisy: compare the engines
of one run, not figures across days (the reference, a numpy sort timed around each run, says
how loaded the machine was).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from reference import reference_seconds
from rescore import REPO, _as_of, _scorer, _world_db, measured


def _session(args: argparse.Namespace):
    from scoring.batch.spark.session import spark_session

    return spark_session(args.master, {"spark.driver.memory": args.driver_memory})


def _timed(module: object, name: str, spent: list[float]) -> None:
    """Wrap `module.name` so that its time is added to `spent`."""
    inner = getattr(module, name)

    def timed(*args, **kwargs):
        began = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - began)

    setattr(module, name, timed)


def _child(args: argparse.Namespace) -> None:
    """One run; prints its figures as JSON on the last line."""
    import importlib

    from scoring.batch.rescore import Options, rescore
    from scoring.config import load_config

    cfg = load_config(REPO / "configs" / "demo.yaml").with_database(args.url)
    as_of = pd.Timestamp(args.as_of).to_pydatetime()
    began = time.perf_counter()
    if args.engine == "pyfunc":
        leads = _pyfunc(args, cfg, as_of)
        print(json.dumps({"seconds": time.perf_counter() - began, "leads": leads}))
        return
    if args.engine == "spark-parquet":
        from scoring.batch.spark.job import SparkOptions, scored, write_output

        spark = _session(args)
        rows = scored(
            spark, cfg, Path(args.scorer), "1", as_of, args.explain, SparkOptions(args.url)
        )
        leads, *_ = write_output(rows, args.output, "1", as_of)
        print(json.dumps({"seconds": time.perf_counter() - began, "leads": leads}))
        return
    execute = None
    if args.engine == "spark":
        from scoring.batch.spark.job import SparkOptions
        from scoring.batch.spark.job import execute as on_spark

        execute = on_spark(_session(args), SparkOptions(args.url))
    options = Options(full=True, explain=args.explain, as_of=as_of, log_every=60.0)
    tail: list[float] = []  # the feedback sync and the SLA check, the same on both engines
    run_module = importlib.import_module("scoring.batch.rescore")
    for step in ("_sync_feedback", "_sla_lines"):
        _timed(run_module, step, tail)
    summary = rescore(
        cfg, sa.create_engine(args.url), Path(args.scorer), "1", options, execute=execute
    )
    print(summary.to_text(), file=sys.stderr)
    seconds = time.perf_counter() - began  # the Spark session's start included
    figures = {"seconds": seconds, "tail_seconds": sum(tail), "leads": summary.leads}
    print(json.dumps(figures | summary.counts))


def _pyfunc(args: argparse.Namespace, cfg, as_of) -> int:
    """Score with mlflow.pyfunc.spark_udf over the registered model's pyfunc: the lead rows of
    the lead query, each with its events as the JSON list the pyfunc takes, and `as_of`."""
    import mlflow
    from pyspark.sql import functions as F

    from scoring.batch.spark.source import read_frames
    from scoring.model.predict import OUTPUT_COLUMNS
    from scoring.model.scorer import LeadScorer
    from training.tracking import pyfunc_parts

    model = Path(args.output) / "pyfunc"
    shutil.rmtree(model, ignore_errors=True)
    parts = pyfunc_parts(LeadScorer.load(Path(args.scorer)), Path(args.scorer))
    mlflow.pyfunc.save_model(model, **parts)
    example, signature = parts["input_example"], parts["signature"]
    spark = _session(args)
    frames = read_frames(spark, cfg, args.url)
    wanted = [c for c in example.columns if c in frames.columns]
    leads = frames.leads.limit(args.pyfunc_leads).select(
        *(F.col(c).cast("string").alias(c) for c in wanted)
    )
    events = frames.events.groupBy("lead_id").agg(
        F.to_json(
            F.collect_list(
                F.struct(F.col("event_type").alias("type"), F.col("occurred_at").alias("timestamp"))
            )
        ).alias("events")
    )
    table = leads.join(events, leads[cfg.leads.id] == events["lead_id"], "left").select(
        *(leads[c] for c in wanted), "events", F.lit(str(as_of)).alias("as_of")
    )
    kinds = {"stage": "string", "grade": "string", "lead_id": "string"}
    result = ", ".join(f"{c} {kinds.get(c, 'double')}" for c in OUTPUT_COLUMNS)
    udf = mlflow.pyfunc.spark_udf(spark, str(model), result_type=result, env_manager="local")
    # spark_udf passes its arguments as the signature's columns, in the signature's order
    named = signature.inputs.input_names()
    scored = table.select(udf(*(F.col(c) for c in named)).alias("s")).select("s.*")
    scored.write.mode("overwrite").parquet(str(Path(args.output) / "pyfunc-scores"))
    return spark.read.parquet(str(Path(args.output) / "pyfunc-scores")).count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--explain-leads", type=int, help="default: --leads")
    parser.add_argument("--pyfunc-leads", type=int, help="default: --leads")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "bench-rescore")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--scorer", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--explain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    args.explain_leads = args.explain_leads or args.leads
    args.pyfunc_leads = args.pyfunc_leads or args.leads
    args.data.mkdir(parents=True, exist_ok=True)
    print("preparing worlds and the model (cached in", args.data, ")", flush=True)
    scorer = _scorer(args.data)
    as_of = _as_of()
    worlds = {n: _world_db(args.data, n) for n in {args.leads, args.explain_leads}}
    work, out = args.data / "spark-work.db", args.data / "spark-out"
    rows: list[tuple[str, dict]] = []

    def run(name: str, engine: str, n: int, explain: bool = False) -> None:
        shutil.copyfile(worlds.get(n) or worlds[args.leads], work)
        print(f"running: {name}", flush=True)
        before = reference_seconds(1)
        command = [sys.executable, __file__, "--child", "--engine", engine]
        command += ["--url", f"sqlite:///{work}", "--scorer", str(scorer), "--as-of", as_of]
        command += ["--output", str(out), "--master", args.master]
        command += ["--driver-memory", args.driver_memory, "--pyfunc-leads", str(n)]
        figures = measured(command + (["--explain"] if explain else []), name)
        figures["reference"] = (before + reference_seconds(1)) / 2
        figures["rows_per_s"] = figures["leads"] / figures["seconds"]
        figures.setdefault("tail_seconds", 0.0)
        figures["scoring_rows_per_s"] = figures["leads"] / (
            figures["seconds"] - figures["tail_seconds"]
        )
        rows.append((name, figures))

    n, e = args.leads, args.explain_leads
    run(f"local, full, {n:,}", "local", n)
    run(f"spark, full, {n:,}", "spark", n)
    run(f"spark to Parquet, {n:,}", "spark-parquet", n)
    run(f"local, full, reasons, {e:,}", "local", e, explain=True)
    run(f"spark, full, reasons, {e:,}", "spark", e, explain=True)
    run(f"spark_udf pyfunc, {args.pyfunc_leads:,}", "pyfunc", args.pyfunc_leads)
    print(f"\nas of {as_of}; spark master {args.master}, driver memory {args.driver_memory}")
    head = f"{'run':<34}{'leads':>11}{'time':>10}{'tail':>9}{'leads/s':>9}{'w/o tail':>10}"
    print(head + f"{'ref':>8}{'peak MB':>9}")
    for name, f in rows:
        print(
            f"{name:<34}{f['leads']:>11,}{f['seconds']:>8.1f} s{f['tail_seconds']:>7.1f} s"
            f"{f['rows_per_s']:>9,.0f}{f['scoring_rows_per_s']:>10,.0f}"
            f"{f['reference']:>6.2f} s{f['peak_mb']:>9,.0f}"
        )
    base = dict(rows)
    for label, local, spark in (
        (f"full {n:,}", f"local, full, {n:,}", f"spark, full, {n:,}"),
        (f"reasons {e:,}", f"local, full, reasons, {e:,}", f"spark, full, reasons, {e:,}"),
    ):
        ratio = base[spark]["scoring_rows_per_s"] / base[local]["scoring_rows_per_s"]
        print(f"spark / local, {label}, without the tail: {ratio:.2f}x leads/s")
    print("time includes each run's start-up (Spark's session: about 5-10 s); tail: the")
    print("feedback sync and the SLA check after the scoring (into the database only)")
    work.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
