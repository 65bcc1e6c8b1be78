"""The training commands of `leadscore`: generate, train, tune-thresholds. `scoring.cli`
mounts them when the training extra is installed."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scoring.cli.common import DbOpt, config_of
from scoring.cli.registry import SourceOpt, resolve_source
from scoring.config import DEFAULT_DATABASE, Config, ConfigError, hide_url, load_config
from scoring.data.database import connect

if TYPE_CHECKING:
    from training.thresholds.replay import Replay
    from training.thresholds.study import TuneResult

TrialsOpt = Annotated[int, typer.Option(help="Threshold study trials.", min=1)]
DegenerateOpt = Annotated[
    bool,
    typer.Option(
        "--register-degenerate",
        help="Apply and register cut-offs that hand off (almost) nobody; refused by default.",
    ),
]
ParetoOpt = Annotated[
    bool, typer.Option("--pareto", help="Multi-objective study: net value vs sales workload.")
]


def register(app: typer.Typer) -> None:
    """Add the training commands to the `leadscore` app."""
    app.command()(generate)
    app.command()(train)
    app.command("tune-thresholds")(tune_thresholds_)


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
    engine = connect(db)
    write_world(world, engine)
    typer.echo(
        f"generated {len(world.leads):,} leads, {len(world.accounts):,} accounts and "
        f"{len(world.activities):,} events in {generated:.1f}s; written to {hide_url(db)} "
        f"in {time.perf_counter() - began - generated:.1f}s"
    )
    if snapshot is not None:
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot_export(world).to_csv(snapshot, index=False)
        typer.echo(f"snapshot export written to {snapshot}")


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
    register_degenerate: DegenerateOpt = False,
    until: Annotated[
        str | None,
        typer.Option(
            help="Train as of this date (training.until): only leads closed before it are "
            "labels; `leadscore monitor` judges the model on the leads after it.",
        ),
    ] = None,
) -> None:
    """Train fit + intent models, evaluate against baselines, log to MLflow, register if good."""
    import tempfile

    from scoring.model import registry
    from training import tracking
    from training.pipeline.dataset import WEIGHTING_TEXT
    from training.pipeline.plots import all_plots
    from training.pipeline.run import run_training
    from training.thresholds import TuneSettings, check_cost_units
    from training.thresholds import tune_thresholds as run_study  # the option is tune_thresholds
    from training.thresholds.storage import study_storage

    if from_run:
        cfg = registry.logged_config(registry.client(), from_run).with_database(db)
    elif config:
        cfg = config_of(config, db)
    else:
        raise ConfigError("train needs --config or --from-run")
    if until is not None:
        cfg = _as_of_date(cfg, until)
    name = registry.model_name(cfg.name)  # a name that cannot be registered stops before training
    if tune_thresholds:
        check_cost_units(cfg)  # costs in the wrong units stop before training, not after
    began = time.perf_counter()
    engine = connect(cfg.source.database, create=False)
    # the booster search's studies beside the runs: a rerun on the same data resumes them
    searching = cfg.training.tune_trials > 0
    result = run_training(cfg, engine, study_storage(_study_storage_url()) if searching else None)
    cfg = result.config  # without the columns the data check suspects of leaking
    if result.check is not None:
        typer.echo(result.check.to_text())
    tuning = None
    if tune_thresholds:
        settings = TuneSettings(trials, pareto=pareto, storage=_study_storage_url())
        tuning = run_study(cfg, result.scorer, engine, result.data, settings)
        if tuning[0].degenerate is None or register_degenerate:
            result = result.with_thresholds(tuning[0].thresholds())
    with tempfile.TemporaryDirectory() as tmp:
        plots = all_plots(result, Path(tmp))
        run_id, version = tracking.log_training(
            result, plots, register=result.gate.passed, tuning=tuning
        )
    data = result.data
    typer.echo(
        f"trained on {len(data.label):,} closed leads ({int(data.label.sum()):,} won; "
        f"folds {data.fold.value_counts().to_dict()}), {WEIGHTING_TEXT[result.weighting]}, "
        f"in {time.perf_counter() - began:.1f}s"
    )
    typer.echo(f"recipe: {result.scorer.metadata['recipe']}")
    if result.refitted is not None:
        typer.echo(f"registered model: {result.refitted.metadata['refit']}")
    typer.echo(_metrics_table(result.metrics))
    typer.echo(result.gate.message)
    typer.echo(f"MLflow run {run_id} ({registry.store_name()})")
    if tuning:
        typer.echo(_tuning_text(*tuning))
        if tuning[0].degenerate is not None and not register_degenerate:
            typer.echo(
                "  the tuned cut-offs were not applied (the version keeps its default ones): "
                "fix the costs or capacity, or pass --register-degenerate"
            )
    if version:
        typer.echo(f"registered {name} version {version} (source {cfg.name})")


def _as_of_date(cfg: Config, until: str) -> Config:
    import pandas as pd

    try:
        when = pd.Timestamp(until)
    except ValueError:
        raise ConfigError(f"--until: not a date: {until!r} (e.g. 2025-10-01)") from None
    training = cfg.training.model_copy(update={"until": when.to_pydatetime()})
    return cfg.model_copy(update={"training": training})


def _study_storage_url() -> str | None:
    from scoring.model import registry
    from training.thresholds.storage import database_url

    return database_url(registry.tracking_uri())


def _tuning_text(tuning: TuneResult, replay: Replay) -> str:
    """What RevOps reads: the cut-offs, what they earn on held-out leads, the weekly load."""
    from training.thresholds.report import tuning_text

    return tuning_text(tuning, replay)


def tune_thresholds_(
    model_version: Annotated[str, typer.Option(help="Registered version to tune.")],
    source: SourceOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config whose costs: to use (default: the model's); its `name` is the source "
            "when --source is not given.",
        ),
    ] = None,
    db: DbOpt = None,
    trials: TrialsOpt = 300,
    pareto: ParetoOpt = False,
    register_degenerate: DegenerateOpt = False,
    seed: Annotated[int, typer.Option(help="Sampler seed.")] = 0,
    storage: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL for the study (default: the MLflow database)."),
    ] = None,
) -> None:
    """Tune the MQL/SQL cut-offs of a registered version of the source on its held-out leads;
    registers a new version of it with the same boosters and the tuned thresholds (promote it to
    serve it). Without --source or --config: the demo's lead-scoring."""
    from scoring.model import registry
    from training import tracking
    from training.pipeline.dataset import load_training_set
    from training.pipeline.fit import held_out_model
    from training.thresholds import TuneSettings
    from training.thresholds import tune_thresholds as run_study

    name = resolve_source(source, config)
    client = registry.setup()
    scorer, _ = registry.load_scorer(client, model_version, source=name)
    cfg = scorer.config.with_database(db)
    if config is not None:
        costs = load_config(config).costs
        cfg = cfg.model_copy(update={"costs": costs})
    scorer = replace(scorer, config=cfg)
    engine = connect(cfg.source.database, create=False)
    data = load_training_set(cfg, engine)
    settings = TuneSettings(trials, seed, pareto, storage=storage or _study_storage_url())
    tuning, replay = run_study(cfg, held_out_model(cfg, data, scorer), engine, data, settings)
    typer.echo(_tuning_text(tuning, replay))
    if tuning.degenerate is not None and not register_degenerate:
        raise ConfigError(
            f"not registered: {tuning.degenerate} (pass --register-degenerate to register it)"
        )
    new = tracking.register_retuned(client, model_version, scorer, tuning, replay)
    flag = "" if name == registry.DEMO_SOURCE else f" --source {name}"
    typer.echo(
        f"registered {registry.model_name(name)} version {new} (boosters of version "
        f"{model_version}); `leadscore promote {new}{flag}` serves it"
    )
