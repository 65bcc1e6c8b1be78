"""`leadscore rescore`: the lead database rescored with its source's champion into lead_scores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from scoring.cli.common import ConfigOpt, DbOpt, config_of, fail, failures
from scoring.cli.errors import BUSY, FAILED

RESUME = "rerun `leadscore rescore`: it resumes after the last committed chunk"


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
) -> None:
    """Rescore the lead database with the champion of the config's source (its `name`; the demo's
    is lead-scoring) or a local export of it, into lead_scores (docs/batch.md): incremental by
    default, resumable after a crash, one run at a time. A config with `feedback.crm` has the
    CRM's activity copied into lead_feedback first (`leadscore feedback sync`); the run ends
    with the handoff SLA's line per rule, as of the run (`leadscore sla`)."""
    import tempfile

    from scoring.batch import LockedError, Options
    from scoring.batch import rescore as run_rescore
    from scoring.data.database import connect
    from scoring.model import registry

    download = tempfile.TemporaryDirectory(prefix="leadscore-champion-", ignore_cleanup_errors=True)
    with failures(RESUME) as scope, download as folder:
        cfg = config_of(config, db)
        if model is None:
            client = registry.client()
            version, scorer_dir = registry.load_champion(client, Path(folder), source=cfg.name)
        else:
            version, scorer_dir = registry.load_export(model, source=cfg.name)
        engine = connect(cfg.source.database)
        scope.database = engine.url
        options = Options(
            full=full,
            explain=explain,
            as_of=pd.Timestamp(as_of).to_pydatetime() if as_of else None,
            chunk_rows=chunk_rows,
            workers=workers,
            restart=restart,
        )
        try:
            summary = run_rescore(cfg, engine, scorer_dir, version, options)
        except LockedError as exc:
            raise fail(str(exc), BUSY) from None
        except RuntimeError as exc:  # the run is marked failed; the next invocation resumes it
            raise fail(f"rescoring failed ({exc}); rerun to resume", FAILED) from None
    typer.echo(summary.to_text())
