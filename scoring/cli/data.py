"""`leadscore data import | summary | features`: the lead database, validated and described."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from scoring.cli.common import ConfigOpt, DbOpt, config_of
from scoring.data.database import connect
from scoring.data.files import import_files

app = typer.Typer(help="Import, validate and describe lead data.", no_args_is_help=True)


@app.command("import")
def import_(config: ConfigOpt, db: DbOpt = None) -> None:
    """Copy the config's CSV/Parquet exports into its lead database."""
    cfg = config_of(config, db)
    counts = import_files(cfg, connect(cfg.source.database))
    for table, rows in counts.items():
        typer.echo(f"imported {rows:,} rows into {table}")


@app.command()
def summary(config: ConfigOpt, db: DbOpt = None) -> None:
    """Validate the lead data (rejected rows go to lead_validation_errors) and describe it."""
    from scoring.data.summary import summarise

    cfg = config_of(config, db)
    typer.echo(summarise(cfg, connect(cfg.source.database, create=False)).to_text())


@app.command()
def features(
    config: ConfigOpt,
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")],
    as_of: Annotated[
        str | None, typer.Option(help="Point in time (default: now), e.g. 2025-06-30T12:00.")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Compute point-in-time features for every valid lead and write them to a file."""
    from scoring.data.load import load_events, load_leads
    from scoring.features import build_features

    cfg = config_of(config, db)
    engine = connect(cfg.source.database, create=False)
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
