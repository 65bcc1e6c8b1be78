"""`leadscore feedback import|sync`: sales feedback into the lead database's lead_feedback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from scoring.cli.common import ConfigOpt, DbOpt, config_of, failures

app = typer.Typer(
    help="Sales feedback (SDR and AE decisions, contact attempts) into lead_feedback "
    "(docs/feedback.md).",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    """Add these commands to the `leadscore` app."""
    root.add_typer(app, name="feedback")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV, Excel or Parquet export with the columns of /feedback's items: id, "
            "lead_id, kind, occurred_at, reason, rating, channel.",
            exists=True,
            dir_okay=False,
        ),
    ],
    config: ConfigOpt,
    db: DbOpt = None,
) -> None:
    """Store a file of feedback. Sending a row again is a no-op (its id); rows that fail are
    kept in lead_feedback_errors with the field and the reason."""
    from scoring.data.database import connect
    from scoring.feedback.imports import import_file

    with failures() as scope:
        cfg = config_of(config, db)
        engine = connect(cfg.source.database)
        scope.database = engine.url
        done = import_file(cfg, engine, file, _now())
    typer.echo(done.to_text(f"feedback import of {file}"))


@app.command()
def sync(config: ConfigOpt, db: DbOpt = None) -> None:
    """Copy the CRM's activity table (the config's feedback.crm) into lead_feedback; every
    rescoring run does it too."""
    from scoring.data.database import connect
    from scoring.feedback.crm import sync_crm

    with failures() as scope:
        cfg = config_of(config, db)
        if cfg.feedback.crm is None:
            raise ValueError(
                f"{config}: feedback.crm is not set: map the CRM's activity table to sync it"
            )
        engine = connect(cfg.source.database)
        scope.database = engine.url
        done = sync_crm(cfg, engine, _now())
    assert done is not None
    typer.echo(done.to_text(f"feedback sync of {cfg.feedback.crm.table}"))
