"""`leadscore rescore --engine spark`: the same rescoring as a Spark job (docs/batch.md), into
lead_scores through the run machinery of the single-machine engine, or into a Parquet/Delta
folder (`--output`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from scoring.batch import Challenger, Options, Summary
from scoring.cli.common import fail
from scoring.config import Config


@dataclass(frozen=True)
class SparkArgs:
    master: str | None = None
    input: str | None = None  # default: the config's database
    output: str | None = None
    output_format: str = "parquet"
    since: datetime | None = None
    staging: str | None = None

    def reads_database(self, cfg: Config) -> bool:
        return self.input is None or self.input == cfg.source.database


SPARK_ONLY = ("--master", "--input", "--output", "--output-format", "--since", "--staging")


def refuse_spark_options(args: SparkArgs) -> None:
    """A spark option given to the local engine is a mistake, not something to ignore."""
    given = [args.master, args.input, args.output, None, args.since, args.staging]
    if args.output_format != "parquet":
        given[3] = args.output_format
    named = [name for name, value in zip(SPARK_ONLY, given, strict=True) if value is not None]
    if named:
        raise fail(f"{', '.join(named)} need --engine spark (the local engine reads --db)")


DELTA_CLASS = "io.delta.sql.DeltaSparkSessionExtension"


def check_format(spark: object, fmt: str) -> None:
    """--output-format: parquet, or delta where the session has Delta Lake (before any work)."""
    if fmt == "parquet":
        return
    if fmt != "delta":
        raise fail(f"--output-format: {fmt!r} is not parquet or delta")
    try:
        spark._jvm.java.lang.Class.forName(DELTA_CLASS)  # type: ignore[attr-defined]
    except Exception:
        raise fail(
            "--output-format delta: this Spark session has no Delta Lake (the delta-spark "
            "package and its jars, as on Databricks); write parquet instead"
        ) from None


def to_folder(
    cfg: Config, scorer_dir: Path, version: str, options: Options, args: SparkArgs
) -> str:
    """Score into `args.output`: the summary's text."""
    from scoring.batch.lock import utcnow
    from scoring.batch.rescore import compatible_config
    from scoring.batch.spark.job import SparkOptions, Written, scored, write_output
    from scoring.batch.spark.session import spark_session
    from scoring.model.scorer import LeadScorer

    assert args.output is not None
    began = time.perf_counter()
    cfg = compatible_config(cfg, LeadScorer.load(scorer_dir))
    as_of = options.as_of or utcnow()
    spark = spark_session(args.master)
    check_format(spark, args.output_format)
    where = SparkOptions(args.input or cfg.source.database, args.since)
    explain, size = options.explain, options.chunk_rows
    rows = scored(spark, cfg, scorer_dir, version, as_of, explain, where, size)
    counts = write_output(rows, args.output, version, as_of, args.output_format)
    return Written(*counts, time.perf_counter() - began).to_text(args.output)


def to_database(
    cfg: Config,
    engine: sa.Engine,
    scorer_dir: Path,
    version: str,
    options: Options,
    args: SparkArgs,
    challenger: Challenger | None = None,
) -> Summary:
    """Score into the lead database's lead_scores, as the local engine would (the challenger is
    not scored in shadow on Spark: the summary says so)."""
    from dataclasses import replace

    from scoring.batch import rescore
    from scoring.batch.spark.job import SparkOptions, execute
    from scoring.batch.spark.session import spark_session

    spark = spark_session(args.master)
    job = execute(spark, SparkOptions(args.input or cfg.source.database, args.since, args.staging))
    # a Parquet input: the database holds the scores only, not the leads to index
    options = replace(options, create_indexes=args.reads_database(cfg))
    summary = rescore(cfg, engine, scorer_dir, version, options, execute=job)
    summary.notes.append(f"engine: spark ({spark.sparkContext.master})")
    if challenger is not None:
        summary.shadow = f"shadow: {challenger.label} not scored (no shadow scoring on spark)"
    if args.since is not None:
        summary.notes.append(
            f"--since {args.since:%Y-%m-%d %H:%M:%S}: leads with a date or an event after it "
            "only; deleted leads not checked"
        )
    return summary
