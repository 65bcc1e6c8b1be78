"""`leadscore`: the command line of the project."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

from scoring.config import DEFAULT_DATABASE, Config, ConfigError, load_config
from scoring.database import connect, import_files

if TYPE_CHECKING:
    from training.replay import Replay
    from training.thresholds import TuneResult

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

app = typer.Typer(help="Lead scoring and MQL/SQL handoff calibration.", no_args_is_help=True)
data_app = typer.Typer(help="Import, validate and describe lead data.", no_args_is_help=True)
app.add_typer(data_app, name="data")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Data-source config (YAML).")]
TrialsOpt = Annotated[int, typer.Option(help="Threshold study trials.", min=1)]
ParetoOpt = Annotated[
    bool, typer.Option("--pareto", help="Multi-objective study: net value vs sales workload.")
]
DbOpt = Annotated[
    str | None, typer.Option("--db", help="SQLAlchemy URL overriding the config's database.")
]


def _friendly(func):
    """Config and data errors end the command with their message, not a traceback."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ConfigError, KeyError, ValueError) as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None

    return wrapper


def _config(path: Path, db: str | None) -> Config:
    return load_config(path).with_database(db)


@app.command()
@_friendly
def generate(
    leads: Annotated[int, typer.Option(help="Number of leads.", min=100)] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same world.")] = 7,
    db: Annotated[str, typer.Option(help="SQLAlchemy URL to write to.")] = DEFAULT_DATABASE,
    start: Annotated[str, typer.Option(help="First day of the simulated history.")] = "2024-01-01",
    months: Annotated[int, typer.Option(help="Length of the history.", min=18)] = 24,
    snapshot: Annotated[
        Path | None, typer.Option(help="Also write a snapshot-style CSV export here.")
    ] = None,
) -> None:
    """Generate the synthetic CRM (accounts, leads, activities, history) into a database."""
    from training.synthetic import generate_world, snapshot_export, write_world

    began = time.perf_counter()
    world = generate_world(leads, seed, start=start, months=months)
    generated = time.perf_counter() - began
    write_world(world, connect(db))
    typer.echo(
        f"generated {len(world.leads):,} leads, {len(world.accounts):,} accounts and "
        f"{len(world.activities):,} events in {generated:.1f}s; written to {db} "
        f"in {time.perf_counter() - began - generated:.1f}s"
    )
    if snapshot is not None:
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot_export(world).to_csv(snapshot, index=False)
        typer.echo(f"snapshot export written to {snapshot}")


@data_app.command("import")
@_friendly
def import_(config: ConfigOpt, db: DbOpt = None) -> None:
    """Copy the config's CSV/Parquet exports into its lead database."""
    cfg = _config(config, db)
    counts = import_files(cfg, connect(cfg.source.database))
    for table, rows in counts.items():
        typer.echo(f"imported {rows:,} rows into {table}")


@data_app.command()
@_friendly
def summary(config: ConfigOpt, db: DbOpt = None) -> None:
    """Validate the lead data (rejected rows go to lead_validation_errors) and describe it."""
    from training.summary import summarise

    cfg = _config(config, db)
    typer.echo(summarise(cfg, connect(cfg.source.database)).to_text())


@data_app.command()
@_friendly
def features(
    config: ConfigOpt,
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")],
    as_of: Annotated[
        str | None, typer.Option(help="Point in time (default: now), e.g. 2025-06-30T12:00.")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Compute point-in-time features for every valid lead and write them to a file."""
    from scoring.data import load_events, load_leads
    from scoring.features import build_features

    cfg = _config(config, db)
    engine = connect(cfg.source.database)
    leads, rejects = load_leads(cfg, engine)
    events, _ = load_events(cfg, engine)
    frame = build_features(cfg, leads.inputs, events, pd.Timestamp(as_of) if as_of else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out)
    else:
        frame.to_csv(out)
    typer.echo(
        f"{len(frame):,} leads x {frame.shape[1]} features written to {out}"
        f" ({len(rejects):,} rows rejected: see `leadscore data summary`)"
    )


def _metrics_table(metrics: dict[str, dict[str, float]]) -> str:
    cols = [
        ("roc_auc", "ROC AUC"),
        ("roc_auc_ci_low", "CI low"),
        ("roc_auc_ci_high", "CI high"),
        ("pr_auc", "PR AUC"),
        ("log_loss", "log loss"),
        ("brier", "Brier"),
        ("ece", "ECE"),
        ("revenue_weighted_auc", "rev AUC"),
        ("lift_top10", "lift10"),
        ("revenue_share_top20", "rev top20"),
    ]
    lines = [f"{'model':<20}" + "".join(f"{label:>10}" for _, label in cols)]
    for model, values in metrics.items():
        lines.append(f"{model:<20}" + "".join(f"{values[key]:>10.3f}" for key, _ in cols))
    return "\n".join(lines)


@app.command()
@_friendly
def train(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Data-source config (YAML).")
    ] = None,
    db: DbOpt = None,
    from_run: Annotated[
        str | None, typer.Option(help="Re-run with the exact config logged on this MLflow run.")
    ] = None,
    tune_thresholds: Annotated[
        bool,
        typer.Option("--tune-thresholds", help="Also tune the MQL/SQL cut-offs (threshold study)."),
    ] = False,
    trials: TrialsOpt = 300,
    pareto: ParetoOpt = False,
) -> None:
    """Train fit + intent models, evaluate against baselines, log to MLflow, register if good."""
    import tempfile

    from training import pipeline, tracking
    from training.pipeline import TuneSettings, run_training
    from training.plots import all_plots

    if from_run:
        cfg = tracking.logged_config(tracking.setup(), from_run).with_database(db)
    elif config:
        cfg = _config(config, db)
    else:
        raise ConfigError("train needs --config or --from-run")
    began = time.perf_counter()
    engine = connect(cfg.source.database)
    result = run_training(cfg, engine)
    tuning = None
    if tune_thresholds:
        settings = TuneSettings(trials, pareto=pareto, storage=_study_storage_url())
        tuning = pipeline.tune_thresholds(cfg, result.scorer, engine, result.data, settings)
        result = replace(result, scorer=result.scorer.with_thresholds(tuning[0].thresholds()))
    with tempfile.TemporaryDirectory() as tmp:
        plots = all_plots(result, Path(tmp))
        run_id, version = tracking.log_training(
            result, plots, register=result.gate.passed, tuning=tuning
        )
    data = result.data
    typer.echo(
        f"trained on {len(data.label):,} closed leads ({int(data.label.sum()):,} won; "
        f"folds {data.fold.value_counts().to_dict()}) in {time.perf_counter() - began:.1f}s"
    )
    typer.echo(_metrics_table(result.metrics))
    typer.echo(result.gate.message)
    typer.echo(f"MLflow run {run_id} ({tracking.tracking_uri()})")
    if tuning:
        typer.echo(_tuning_text(*tuning))
    if version:
        typer.echo(f"registered {tracking.MODEL_NAME} version {version}")


def _study_storage_url() -> str | None:
    from training import tracking
    from training.study_storage import database_url

    return database_url(tracking.tracking_uri())


def _tuning_text(tuning: TuneResult, replay: Replay) -> str:
    """What RevOps reads: the cut-offs, what they earn on held-out leads, the weekly load."""
    p, load, costs = tuning.policy, tuning.load, replay.costs
    out = tuning.outcome
    lines = [
        f"threshold study {tuning.study_name}: {len(tuning.trials)} trials, replay {tuning.mode}",
        f"  MQL when expected revenue >= {p.mql:,.0f}; SQL when >= {p.sql:,.0f}; "
        f"minimum fit score {p.min_fit:g}",
        f"  replayed on {len(replay.timeline.lead_ids):,} held-out leads: net value "
        f"{out.net_value:,.0f} = value {out.revenue:,.0f} (expected revenue of the handoffs, "
        f"at the policy's speed) - SDR {out.sdr_cost:,.0f} - AE {out.ae_cost:,.0f}; "
        f"{out.mqls:,} MQLs, {out.sqls:,} direct SQLs",
        f"  weekly load: SDR {load.sdr_per_week:.0f} / {costs.sdr_capacity_per_week:g}, "
        f"AE {load.ae_per_week:.0f} / {costs.ae_capacity_per_week:g}",
    ]
    if (speed := tuning.speed) is not None:
        rest = (
            "none is called after it asked"
            if speed.median_wait_hours is None
            else f"the rest a median {speed.median_wait_hours:.1f} h after it asked"
        )
        lines.append(
            f"  speed to lead: {speed.early_share:.0%} of handoffs are called before the lead "
            f"was ready ({speed.never_ready_share:.0%} never showed it was); {rest}"
        )
    if tuning.mode == "static":
        lines.append(
            "  no event timeline in this data: a static expected-value policy (each lead scored "
            "once; delay and premature contact are not priced)"
        )
    return "\n".join(lines)


@app.command("tune-thresholds")
@_friendly
def tune_thresholds_(
    model_version: Annotated[str, typer.Option(help="Registered version to tune.")],
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config whose costs: to use (default: the model's)."),
    ] = None,
    db: DbOpt = None,
    trials: TrialsOpt = 300,
    pareto: ParetoOpt = False,
    seed: Annotated[int, typer.Option(help="Sampler seed.")] = 0,
    storage: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL for the study (default: the MLflow database)."),
    ] = None,
) -> None:
    """Tune the MQL/SQL cut-offs of a registered version on its held-out leads; registers a new
    version with the same boosters and the tuned thresholds (promote it to serve it)."""
    from training import pipeline, tracking
    from training.dataset import load_training_set

    client = tracking.setup()
    scorer, _ = tracking.load_scorer(client, model_version)
    cfg = scorer.config.with_database(db)
    if config is not None:
        costs = load_config(config).costs
        cfg = cfg.model_copy(update={"costs": costs})
    scorer = replace(scorer, config=cfg)
    engine = connect(cfg.source.database)
    data = load_training_set(cfg, engine)
    settings = pipeline.TuneSettings(trials, seed, pareto, storage=storage or _study_storage_url())
    tuning, replay = pipeline.tune_thresholds(cfg, scorer, engine, data, settings)
    new = tracking.register_retuned(client, model_version, scorer, tuning, replay)
    typer.echo(_tuning_text(tuning, replay))
    typer.echo(
        f"registered {tracking.MODEL_NAME} version {new} (boosters of version {model_version}); "
        f"`leadscore promote {new}` serves it"
    )


@app.command()
@_friendly
def promote(version: Annotated[str, typer.Argument(help="Version number, or 'latest'.")]) -> None:
    """Make VERSION the champion (the current champion becomes 'previous')."""
    from training import tracking

    client = tracking.setup()
    old = tracking.promote(client, version)
    now = tracking._alias(client, tracking.CHAMPION)
    typer.echo(
        f"{tracking.MODEL_NAME}@champion -> version {now}" + (f" (previous: {old})" if old else "")
    )


@app.command()
@_friendly
def rollback() -> None:
    """Swap the champion with the previous version."""
    from training import tracking

    champion, previous = tracking.rollback(tracking.setup())
    typer.echo(f"{tracking.MODEL_NAME}@champion -> version {champion} (previous: {previous})")


@app.command()
@_friendly
def models() -> None:
    """Registered versions with their aliases and key test metrics."""
    from training import tracking

    table = tracking.versions(tracking.setup())
    typer.echo(table.to_string(index=False) if len(table) else "no registered versions yet")


@app.command()
@_friendly
def export(
    version: Annotated[str, typer.Argument(help="Version number.")],
    into: Annotated[Path, typer.Option(help="Folder for the export.")] = Path("models"),
) -> None:
    """Copy a registered version (MLflow model with its scorer) into models/."""
    from training import tracking

    path = tracking.export(tracking.setup(), version, into)
    typer.echo(f"exported version {version} to {path}")


@app.command()
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
) -> None:
    """Rescore the lead database with the champion model into lead_scores (docs/batch.md):
    incremental by default, resumable after a crash, one run at a time."""
    import shutil
    import tempfile

    from mlflow.tracking import MlflowClient

    from scoring.rescore import Options, load_champion
    from scoring.rescore import rescore as run_rescore
    from scoring.rescore_lock import LockedError
    from training import tracking

    folder = Path(tempfile.mkdtemp(prefix="leadscore-champion-"))
    try:
        cfg = _config(config, db)
        version, scorer_dir = load_champion(MlflowClient(tracking.tracking_uri()), folder)
        options = Options(
            full=full,
            explain=explain,
            as_of=pd.Timestamp(as_of).to_pydatetime() if as_of else None,
            chunk_rows=chunk_rows,
            workers=workers,
            restart=restart,
        )
        summary = run_rescore(cfg, connect(cfg.source.database), scorer_dir, version, options)
    except LockedError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(3) from None
    except (ConfigError, KeyError, ValueError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    except RuntimeError as exc:  # the run is marked failed; the next invocation resumes it
        typer.secho(f"error: rescoring failed ({exc}); rerun to resume", err=True, fg="red")
        raise typer.Exit(1) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    typer.echo(summary.to_text())


@app.command()
@_friendly
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 for all).")] = "127.0.0.1",
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="MLflow model URI, or a local export folder (`leadscore export VERSION`).",
        ),
    ] = "models:/lead-scoring@champion",
    no_import: Annotated[
        bool,
        typer.Option(
            "--no-import",
            help="Serve the newest lead-scoring model already in the BentoML store (e.g. offline).",
        ),
    ] = False,
) -> None:
    """Start the real-time scoring service (BentoML) on the champion or a local export."""
    import sys

    from training import tracking

    env = dict(os.environ)
    if not no_import:
        tracking.setup()
        from scoring.service import import_model

        model = import_model(source)
        env["LEADSCORE_BENTO_MODEL"] = str(model.tag)
        labels = model.info.labels
        typer.echo(
            f"serving {labels.get('registered_model', source)} "
            f"v{labels.get('version', '?')} (BentoML model {model.tag})"
        )
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    auth = (
        ' -H "Authorization: Bearer $LEADSCORE_API_TOKEN"' if env.get("LEADSCORE_API_TOKEN") else ""
    )
    example = (
        '{"lead": {"lead_id": "CRM-42", "title": "VP Sales", "vertical": "Software", '
        '"employees": 850, "events": [{"type": "pricing_page", "timestamp": "'
        + pd.Timestamp.now(tz="UTC").floor("h").isoformat().replace("+00:00", "Z")
        + '"}]}}'
    )
    typer.echo(
        f"starting on http://{shown}:{port} (ready when /readyz answers 200; Ctrl-C stops it). "
        f"Try:\n\n  curl -s -X POST http://{shown}:{port}/score -H 'Content-Type: application/json'"
        f"{auth} -d '{example}'\n"
    )
    bentoml = str(Path(sys.executable).parent / "bentoml")
    cmd = [bentoml, "serve", "scoring.service:LeadScoring", "--host", host, "--port", str(port)]
    os.execve(bentoml, cmd, env)
