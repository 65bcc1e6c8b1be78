"""`leadscore`: the command line of the project."""

from __future__ import annotations

import os
import time
from functools import wraps
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from scoring.config import DEFAULT_DATABASE, Config, ConfigError, load_config
from scoring.database import connect, import_files

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

app = typer.Typer(help="Lead scoring and MQL/SQL handoff calibration.", no_args_is_help=True)
data_app = typer.Typer(help="Import, validate and describe lead data.", no_args_is_help=True)
app.add_typer(data_app, name="data")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Data-source config (YAML).")]
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
) -> None:
    """Train fit + intent models, evaluate against baselines, log to MLflow, register if good."""
    import tempfile

    from training import tracking
    from training.pipeline import run_training
    from training.plots import all_plots

    if from_run:
        cfg = tracking.logged_config(tracking.setup(), from_run).with_database(db)
    elif config:
        cfg = _config(config, db)
    else:
        raise ConfigError("train needs --config or --from-run")
    began = time.perf_counter()
    result = run_training(cfg, connect(cfg.source.database))
    with tempfile.TemporaryDirectory() as tmp:
        plots = all_plots(result, Path(tmp))
        run_id, version = tracking.log_training(result, plots, register=result.gate.passed)
    data = result.data
    typer.echo(
        f"trained on {len(data.label):,} closed leads ({int(data.label.sum()):,} won; "
        f"folds {data.fold.value_counts().to_dict()}) in {time.perf_counter() - began:.1f}s"
    )
    typer.echo(_metrics_table(result.metrics))
    typer.echo(result.gate.message)
    typer.echo(f"MLflow run {run_id} ({tracking.tracking_uri()})")
    if version:
        typer.echo(f"registered {tracking.MODEL_NAME} version {version}")


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
