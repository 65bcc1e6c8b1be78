"""`leadscore init EXPORT`: a draft config from a raw export (docs/onboarding.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from scoring.cli.common import fail
from scoring.config import load_config


def register(app: typer.Typer) -> None:
    """Add these commands to the `leadscore` app."""
    app.command()(init)


def init(
    export: Annotated[Path, typer.Argument(help="The raw export: CSV (any separator), XLSX.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write the draft (default configs/NAME.yaml).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Source name (default: from the file).")] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Lead database URL (default sqlite:///data/NAME.db).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Profile a raw export and write a draft config a person reviews: id, created date and
    outcome guessed, feature kinds and fit/intent groups guessed, suspected leaks commented."""
    from scoring.data.draft import draft, to_yaml

    if not export.is_file():
        raise fail(f"{export} is not a file")
    found = draft(export, name)
    target = out or Path("configs") / f"{found.name}.yaml"
    if target.exists() and not force:
        raise fail(f"{target} exists: pass --force to overwrite it, or --out another file")
    relative = os.path.relpath(export.resolve(), target.parent.resolve())
    found.path = export.resolve() if relative.startswith("../..") else Path(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(to_yaml(found, db or f"sqlite:///data/{found.name}.db"))
    load_config(target)  # the draft must load as written
    fit = sum(1 for f in found.fields if f[2] == "fit")
    typer.echo(
        f"wrote {target}: id {found.id or '(generated)'}, created {found.created_at or '-'}, "
        f"outcome {found.outcome[0] if found.outcome else '(set it)'}, "
        f"{fit} fit and {len(found.fields) - fit} intent features, "
        f"{len(found.leaks)} suspected leaks"
    )
    for note in found.notes:
        typer.echo(f"  note: {note}")
    typer.echo(
        f"next: review it, then `leadscore data import -c {target}`, "
        f"`leadscore data summary -c {target}`, `leadscore train -c {target}`"
    )
