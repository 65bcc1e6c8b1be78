"""`leadscore models | promote | rollback | export`: registered versions and the champion."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scoring.cli.common import friendly
from scoring.model import registry


def register(app: typer.Typer) -> None:
    """Add these commands to the `leadscore` app."""
    app.command()(promote)
    app.command()(rollback)
    app.command()(models)
    app.command()(export)


@friendly
def promote(version: Annotated[str, typer.Argument(help="Version number, or 'latest'.")]) -> None:
    """Make VERSION the champion (the current champion becomes 'previous')."""
    client = registry.client()
    old = registry.promote(client, version)
    now = registry.alias_version(client, registry.CHAMPION)
    typer.echo(
        f"{registry.MODEL_NAME}@champion -> version {now}" + (f" (previous: {old})" if old else "")
    )


@friendly
def rollback() -> None:
    """Swap the champion with the previous version."""
    champion, previous = registry.rollback(registry.client())
    typer.echo(f"{registry.MODEL_NAME}@champion -> version {champion} (previous: {previous})")


@friendly
def models() -> None:
    """Registered versions with their aliases and key test metrics."""
    table = registry.versions(registry.client())
    typer.echo(table.to_string(index=False) if len(table) else "no registered versions yet")


@friendly
def export(
    version: Annotated[str, typer.Argument(help="Version number.")],
    into: Annotated[Path, typer.Option(help="Folder for the export.")] = Path("models"),
) -> None:
    """Copy a registered version (MLflow model with its scorer) into models/."""
    path = registry.export(registry.client(), version, into)
    typer.echo(f"exported version {version} to {path}")
