"""`leadscore rescore`: the lead database rescored with its source's champion into lead_scores."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

from scoring.cli.common import ConfigOpt, DbOpt, config_of, fail, failures
from scoring.cli.errors import BUSY, FAILED, scrub

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from scoring.batch import Challenger

RESUME = "rerun `leadscore rescore`: it resumes after the last committed chunk"


class Engine(StrEnum):
    local = "local"
    spark = "spark"


def register(app: typer.Typer) -> None:
    """Add these commands to the `leadscore` app."""
    app.command()(rescore)


def rescore(
    config: ConfigOpt,
    db: DbOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="Rescore every lead, not only the changed ones.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Store the top reasons of each score (SHAP).")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(help="Point in time of the features (default: now, UTC), e.g. 2025-06-30."),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(help="Leads per chunk (one commit).", min=1)] = 20_000,
    workers: Annotated[
        int, typer.Option(help="Worker processes (0: one per core, 1: no pool).", min=0)
    ] = 0,
    restart: Annotated[
        bool, typer.Option("--restart", help="Abandon an interrupted run instead of resuming it.")
    ] = False,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="A local export (`leadscore export VERSION`) of the config's source instead of "
            "its champion in the registry.",
        ),
    ] = None,
    challenger_model: Annotated[
        Path | None,
        typer.Option(
            "--challenger-model",
            help="A local export of the source's challenger, scored in shadow into "
            "lead_shadow_scores (default: its challenger in the registry, if any; none with "
            "--model).",
        ),
    ] = None,
    no_shadow: Annotated[
        bool,
        typer.Option("--no-shadow", help="Do not score with the source's challenger."),
    ] = False,
    no_monitor: Annotated[
        bool,
        typer.Option("--no-monitor", help="Do not end with `leadscore monitor` as of the run."),
    ] = False,
    engine_name: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="local: this machine's worker pool; spark: a Spark job, same numbers "
            "(docs/batch.md).",
        ),
    ] = Engine.local,
    master: Annotated[
        str | None,
        typer.Option(help="spark: the master (default: spark-submit's, else local[*])."),
    ] = None,
    input_: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="spark: where the leads and events are: a SQLAlchemy URL (read over JDBC) or "
            "a folder of Parquet tables, one per config table (default: the config's database).",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            help="spark: write scores/ and errors/ into this folder instead of lead_scores."
        ),
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(help="spark: the --output format: parquet, or delta where Delta is."),
    ] = "parquet",
    since: Annotated[
        str | None,
        typer.Option(
            help="spark: only the leads with a date (created, a funnel stage, closed) or an "
            "event after this time, e.g. 2025-06-30T12:00."
        ),
    ] = None,
    staging: Annotated[
        str | None,
        typer.Option(
            help="spark: a folder the executors and this driver share, for results on their "
            "way into the database (default: a temporary folder; on a cluster: dbfs:/, s3a://)."
        ),
    ] = None,
) -> None:
    """Rescore the lead database with the champion of the config's source (its `name`; the demo's
    is lead-scoring) or a local export of it, into lead_scores (docs/batch.md): incremental by
    default, resumable after a crash, one run at a time. A config with `feedback.crm` has the
    CRM's activity copied into lead_feedback first (`leadscore feedback sync`); the run ends
    with the handoff SLA's line per rule, as of the run (`leadscore sla`). The source's
    challenger, if it has one, scores in shadow into lead_shadow_scores: it never changes a
    stage, and a failure of it is a line of the summary, not a failed run. The run ends with
    `leadscore monitor` as of the run (its verdict; the exit code stays the scoring's)."""
    import tempfile

    from scoring.batch import LockedError, Options
    from scoring.batch import rescore as run_rescore
    from scoring.cli import spark as on_spark
    from scoring.cli.monitor import after_rescore, model_label
    from scoring.data.database import connect
    from scoring.model import registry

    if no_shadow and challenger_model is not None:
        raise fail("--no-shadow and --challenger-model contradict each other: give one")
    spark_args = on_spark.SparkArgs(
        master, input_, output, output_format, _moment(since, "--since"), staging
    )
    spark = engine_name is Engine.spark
    if not spark:
        on_spark.refuse_spark_options(spark_args)
    download = tempfile.TemporaryDirectory(prefix="leadscore-champion-", ignore_cleanup_errors=True)
    with failures(RESUME) as scope, download as folder:
        cfg = config_of(config, db)
        client = None
        if model is None:
            client = registry.client()
            version, scorer_dir = registry.load_champion(
                client, Path(folder) / "champion", source=cfg.name
            )
        else:
            version, scorer_dir = registry.load_export(model, source=cfg.name)
        shadow = None
        if not no_shadow:
            shadow = _challenger(client, challenger_model, cfg.name, Path(folder) / "challenger")
        options = Options(
            full=full,
            explain=explain,
            as_of=_moment(as_of, "--as-of"),
            chunk_rows=chunk_rows,
            workers=workers,
            restart=restart,
        )
        if spark and output is not None:
            typer.echo(on_spark.to_folder(cfg, scorer_dir, version, options, spark_args))
            return
        engine = connect(cfg.source.database, create=False)
        scope.database = engine.url
        try:
            if spark:
                args = (cfg, engine, scorer_dir, version, options, spark_args, shadow)
                summary = on_spark.to_database(*args)
                shadow = None  # not scored: nothing to compare in the monitor
            else:
                summary = run_rescore(cfg, engine, scorer_dir, version, options, challenger=shadow)
        except LockedError as exc:
            raise fail(str(exc), BUSY) from None
        except RuntimeError as exc:  # the run is marked failed; the next invocation resumes it
            raise fail(f"rescoring failed ({exc}); rerun to resume", FAILED) from None
        typer.echo(summary.to_text())
        if spark and not spark_args.reads_database(cfg):
            no_monitor = True  # the leads are not in this database
        if not no_monitor:
            label = model_label(cfg.name, version) if model is None else version
            rival = (shadow.label, shadow.scorer_dir) if shadow and shadow.scorer_dir else None
            lines = after_rescore(cfg, engine, (label, scorer_dir), rival, summary.run.as_of)
            typer.echo("\n".join(lines))


def _moment(value: str | None, option: str) -> datetime | None:
    """A time option as naive UTC, or a usage error naming the option."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        raise fail(
            f"{option}: {value!r} is not a time (e.g. 2025-06-30 or 2025-06-30T12:00)"
        ) from None
    if stamp is pd.NaT:
        raise fail(f"{option}: {value!r} is not a time")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def _challenger(
    client: MlflowClient | None, export: Path | None, source: str, into: Path
) -> Challenger | None:
    """The challenger to shadow with: the export `--challenger-model`, else the source's
    `challenger` in the registry (none without registry access, i.e. with --model). One that
    cannot be loaded says why in the summary; the champion's run goes on."""
    from scoring.batch import Challenger
    from scoring.model import registry

    name = registry.model_name(source)
    try:
        if export is not None:
            version, folder = registry.load_export(export, source, "--challenger-model")
        elif client is None:
            return None
        else:
            found = registry.challenger_of(client, source)
            if found is None:
                return None
            version, folder = registry.load_champion(
                client, into, source=source, alias=registry.CHALLENGER
            )
    except Exception as exc:
        shown = str(export) if export is not None else f"{name}@{registry.CHALLENGER}"
        return Challenger("?", shown, problem=scrub(f"{type(exc).__name__}: {exc}"))
    return Challenger(version, f"{name} v{version}", folder)
