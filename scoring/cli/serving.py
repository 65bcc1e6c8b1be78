"""`leadscore serve`: the real-time scoring service (BentoML) on a source's champion or an
export."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

from scoring.cli.registry import SourceConfigOpt, SourceOpt, resolve_source
from scoring.config import Config, ConfigError
from scoring.model import registry
from scoring.settings import settings, variable

if TYPE_CHECKING:
    import bentoml

SERVICE = "scoring.serving.service:LeadScoring"


def register(app: typer.Typer) -> None:
    """Add these commands to the `leadscore` app."""
    app.command()(serve)


def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 for all).")] = "127.0.0.1",
    source: SourceOpt = None,
    config: SourceConfigOpt = None,
    model_uri: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="MLflow model URI, or a local export folder (`leadscore export VERSION`); "
            "default: the source's champion (models:/lead-scoring@champion for the demo).",
            show_default=False,
        ),
    ] = None,
    no_import: Annotated[
        bool,
        typer.Option(
            "--no-import",
            help="Serve the source's newest model already in the BentoML store (e.g. offline).",
        ),
    ] = False,
) -> None:
    """Start the real-time scoring service (BentoML) on a source's champion or a local export.
    Without --source or --config: the demo source's model, lead-scoring."""
    from scoring.serving.store import stored_config

    given = source is not None or config is not None
    name = resolve_source(source, config)
    env = dict(os.environ)
    if no_import:
        model = _stored(name, given)
        picked = settings().bento_model is not None  # LEADSCORE_BENTO_MODEL chose the model
    else:
        model = _imported(model_uri, name)
        picked = model_uri is not None
        labels = model.info.labels
        typer.echo(
            f"serving {labels.get('registered_model', model.tag.name)} "
            f"v{labels.get('version', '?')} (BentoML model {model.tag})"
        )
        if model_uri is None:  # the champion: its challenger, if any, scores in shadow
            env = _with_challenger(env, name)
    cfg = stored_config(model)
    if (given or not picked) and cfg.name != name:
        raise ConfigError(
            f"BentoML model {model.tag} was trained on source {cfg.name!r}, not {name!r}"
        )
    _check_port_free(host, port)
    env |= {variable("bento_model"): str(model.tag)}
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    token = variable("api_token")
    auth = f' -H "Authorization: Bearer ${token}"' if settings().api_token else ""
    example = json.dumps({"lead": _example_lead(cfg)})
    typer.echo(
        f"starting on http://{shown}:{port} (ready when /readyz answers 200; Ctrl-C stops it). "
        f"Try:\n\n  curl -s -X POST http://{shown}:{port}/score -H 'Content-Type: application/json'"
        f"{auth} -d '{example}'\n"
    )
    bentoml_cli = str(Path(sys.executable).parent / "bentoml")
    cmd = [bentoml_cli, "serve", SERVICE, "--host", host, "--port", str(port)]
    os.execve(bentoml_cli, cmd, env)


def _check_port_free(host: str, port: int) -> None:
    """A port in use ends `serve` with one line naming it, not BentoML's traceback. Bound as
    BentoML binds it (SO_REUSEADDR), so only a listener, not a closed connection, is in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
            raise ConfigError(
                f"port {port} on {host} is in use by another process "
                f"(`ss -ltnp 'sport = :{port}'` shows which); stop it or pass --port"
            ) from None


def _imported(model_uri: str | None, source: str) -> bentoml.Model:
    """The model of `--from`, or the source's champion, imported into the BentoML store."""
    from scoring.serving.store import import_model

    return import_model(registry.served_uri(registry.setup(), model_uri, source))


def _with_challenger(env: dict[str, str], source: str) -> dict[str, str]:
    """`env` with LEADSCORE_CHALLENGER_MODEL naming the source's challenger, imported into the
    BentoML store (unset when the registry has none). A challenger that cannot be imported is
    one line: the champion is served without it."""
    from scoring.serving.store import import_challenger

    key = variable("challenger_model")
    env = {k: v for k, v in env.items() if k != key}
    client = registry.client()
    version = registry.challenger_of(client, source)
    if version is None:
        return env
    uri = registry.challenger_uri(source)
    try:
        registry.registered_version(client, version, source=source)
        model = import_challenger(source)
    except Exception as exc:
        typer.echo(f"shadow: not scoring with {uri}: {type(exc).__name__}: {exc}", err=True)
        return env
    typer.echo(
        f"shadow: challenger {registry.model_name(source)} v{version} (BentoML model "
        f"{model.tag}) scores every request off the request path, into lead_shadow_scores "
        f"of {variable('lead_db')}" + ("" if settings().lead_db else " (unset: counted only)")
    )
    return env | {key: str(model.tag)}


def _stored(source: str, given: bool) -> bentoml.Model:
    """The source's newest model in the BentoML store (without a source given,
    LEADSCORE_BENTO_MODEL when set)."""
    import bentoml

    name = registry.model_name(source)
    tag = f"{name}:latest" if given else settings().bento_model or f"{name}:latest"
    try:
        return bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        flag = "" if source == registry.DEMO_SOURCE else f" --source {source}"
        raise ConfigError(
            f"no {tag} in the BentoML store: run `leadscore serve{flag}` once with registry access"
        ) from None


def _example_lead(cfg: Config) -> dict[str, object]:
    """A lead to paste: the demo's reads like a CRM record; any other source's has its id and an
    event of its first type (its fields are left out: missing values are scored too)."""
    now = pd.Timestamp.now(tz="UTC").floor("h").isoformat().replace("+00:00", "Z")
    if cfg.name == registry.DEMO_SOURCE:
        return {
            cfg.leads.id: "CRM-42",
            "title": "VP Sales",
            "vertical": "Software",
            "employees": 850,
            "events": [{"type": "pricing_page", "timestamp": now}],
        }
    lead: dict[str, object] = {cfg.leads.id: "CRM-42"}
    if cfg.events is not None:
        first = next(iter(cfg.events.types.values()))[0]
        lead["events"] = [{"type": first, "timestamp": now}]
    return lead
