"""`leadscore serve`: the real-time scoring service (BentoML) on the champion or an export."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from scoring.cli.common import friendly
from scoring.model.registry import CHAMPION_URI
from scoring.settings import settings, variable

SERVICE = "scoring.serving.service:LeadScoring"


def register(app: typer.Typer) -> None:
    """Add these commands to the `leadscore` app."""
    app.command()(serve)


@friendly
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 for all).")] = "127.0.0.1",
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="MLflow model URI, or a local export folder (`leadscore export VERSION`).",
        ),
    ] = CHAMPION_URI,
    no_import: Annotated[
        bool,
        typer.Option(
            "--no-import",
            help="Serve the newest lead-scoring model already in the BentoML store (e.g. offline).",
        ),
    ] = False,
) -> None:
    """Start the real-time scoring service (BentoML) on the champion or a local export."""
    env = dict(os.environ)
    if not no_import:
        from scoring.model import registry
        from scoring.serving.store import import_model

        registry.setup()

        model = import_model(source)
        env[variable("bento_model")] = str(model.tag)
        labels = model.info.labels
        typer.echo(
            f"serving {labels.get('registered_model', source)} "
            f"v{labels.get('version', '?')} (BentoML model {model.tag})"
        )
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    token = variable("api_token")
    auth = f' -H "Authorization: Bearer ${token}"' if settings().api_token else ""
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
    cmd = [bentoml, "serve", SERVICE, "--host", host, "--port", str(port)]
    os.execve(bentoml, cmd, env)
