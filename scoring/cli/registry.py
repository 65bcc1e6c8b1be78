"""`leadscore models | promote | rollback | challenger | export`: registered versions, the champion
and the challenger (scores in shadow, never decides a stage), one registered model per data
source (`--source NAME`, or `--config FILE` whose `name` is the source;
without either, the demo source's `lead-scoring`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scoring.config import ConfigError, load_config
from scoring.model import registry

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

DEFAULT_NOTE = f"default: {registry.DEMO_SOURCE}, whose model is {registry.MODEL_NAME}"
SourceOpt = Annotated[
    str | None,
    typer.Option(
        "--source",
        help=f"Data source: a config's `name`, e.g. maven-crm ({DEFAULT_NOTE}).",
        show_default=False,
    ),
]
SourceConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Data-source config (YAML) whose `name` is the source (instead of --source).",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add these commands to the `leadscore` app."""
    app.command()(promote)
    app.command()(rollback)
    app.command()(challenger)
    app.command()(models)
    app.command()(export)


def resolve_source(source: str | None, config: Path | None) -> str:
    """The source named by --source or by the `name` of --config (they must agree), else the
    demo; refused when it cannot name a registered model."""
    if config is not None:
        named = load_config(config).name
        if source is not None and source != named:
            raise ConfigError(f"--source {source} and --config {config} (name: {named}) disagree")
        source = named
    source = source or registry.DEMO_SOURCE
    registry.model_name(source)
    return source


def promote(
    version: Annotated[str, typer.Argument(help="Version number, or 'latest'.")],
    source: SourceOpt = None,
    config: SourceConfigOpt = None,
) -> None:
    """Make VERSION the source's champion (its current champion becomes 'previous'); other
    sources' champions are left alone. Without --source or --config: the demo's lead-scoring."""
    name = resolve_source(source, config)
    client = registry.client()
    old = registry.promote(client, version, source=name)
    now = registry.alias_version(client, registry.CHAMPION, source=name)
    typer.echo(
        f"{registry.model_name(name)}@champion -> version {now}"
        + (f" (previous: {old})" if old else "")
    )


def rollback(source: SourceOpt = None, config: SourceConfigOpt = None) -> None:
    """Swap the source's champion with its previous version. Without --source or --config: the
    demo's lead-scoring."""
    name = resolve_source(source, config)
    champion, previous = registry.rollback(registry.client(), source=name)
    typer.echo(f"{registry.model_name(name)}@champion -> version {champion} (previous: {previous})")


def challenger(
    version: Annotated[
        str | None,
        typer.Argument(
            help="Version number, or 'latest'; omitted with --clear.", show_default=False
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the source's challenger.")] = False,
    source: SourceOpt = None,
    config: SourceConfigOpt = None,
) -> None:
    """Make VERSION the source's challenger: it scores in shadow next to the champion (`leadscore
    rescore`, `leadscore serve`) into lead_shadow_scores and never decides a stage. --clear
    removes it. Without --source or --config: the demo's lead-scoring."""
    name = resolve_source(source, config)
    model = registry.model_name(name)
    if clear == (version is not None):
        raise ConfigError("give a VERSION to set the challenger, or --clear to remove it")
    client = registry.client()
    if clear:
        old = registry.clear_challenger(client, source=name)
        typer.echo(
            f"{model}@challenger removed (was version {old})"
            if old
            else f"{model} has no challenger"
        )
        return
    assert version is not None
    old = registry.set_challenger(client, version, source=name)
    now = registry.challenger_of(client, name)
    champion = registry.alias_version(client, registry.CHAMPION, source=name)
    typer.echo(
        f"{model}@challenger -> version {now} (champion: {champion or 'none'}"
        + (f", replaces version {old})" if old and old != now else ")")
    )


def models(source: SourceOpt = None, config: SourceConfigOpt = None) -> None:
    """Registered versions with their aliases and key test metrics: of one source with --source
    or --config, else of every source, grouped by source."""
    client = registry.client()
    if source is None and config is None:
        names = registry.sources(client)
        if not names:
            typer.echo("no registered versions yet")
            return
        typer.echo("\n\n".join(_listing(client, name) for name in names))
    else:
        typer.echo(_listing(client, resolve_source(source, config)))


def _listing(client: MlflowClient, source: str) -> str:
    """A source's heading (source and registered model) over its versions."""
    table = registry.versions(client, source=source)
    body = table.to_string(index=False) if len(table) else "no registered versions yet"
    return f"source {source} ({registry.model_name(source)}):\n{body}"


def export(
    version: Annotated[str, typer.Argument(help="Version number.")],
    source: SourceOpt = None,
    config: SourceConfigOpt = None,
    into: Annotated[Path, typer.Option(help="Folder for the export.")] = Path("models"),
) -> None:
    """Copy a registered version of the source (MLflow model with its scorer) into
    models/<model>-vVERSION. Without --source or --config: the demo's lead-scoring."""
    name = resolve_source(source, config)
    path = registry.export(registry.client(), version, into, source=name)
    typer.echo(f"exported {registry.model_name(name)} version {version} to {path}")
