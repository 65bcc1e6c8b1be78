"""The `leadscore` app: the runtime commands, with the training commands mounted when the
training extra is installed (and, when it is not, commands that say how to install it)."""

from __future__ import annotations

import os
import sys
from importlib.util import find_spec
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from scoring.cli import batch, data, feedback, monitor, onboard, registry, report, serving, sla
from scoring.cli.common import debugging, fail, failures, set_debug
from scoring.cli.errors import watch_databases
from scoring.settings import settings

TRAINING_MODULES = ("sklearn", "optuna", "shap", "matplotlib")
TRAINING_COMMANDS = {
    "generate": "Generate the synthetic CRM (needs the training extra).",
    "train": "Train fit + intent models and register them (needs the training extra).",
    "tune-thresholds": "Tune the MQL/SQL cut-offs of a version (needs the training extra).",
}

HELP = (
    "Lead scoring and MQL/SQL handoff calibration.\n\n"
    "Each data source (a config's `name`) has its own registered model, champion and previous "
    "version: `models`, `promote`, `rollback`, `export` and `serve` take --source NAME or --config "
    "FILE, and without either use the demo source's model, lead-scoring; `rescore` uses its "
    "--config's source. A failure ends in one line and an exit code: 1 failed, 2 usage or "
    "config, 3 not found, 4 database or MLflow store unavailable, 5 another rescore is running."
)


class Commands(TyperGroup):
    """Every command of the app ends on an error with one line and its exit code
    (scoring/cli/errors.py), however it was written."""

    def invoke(self, ctx: Any) -> Any:
        with failures():
            return super().invoke(ctx)


app = typer.Typer(cls=Commands, help=HELP, no_args_is_help=True)


@app.callback()
def _start(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="On a failure, print the traceback too (or set LEADSCORE_DEBUG=1)."
        ),
    ] = False,
) -> None:
    """Settings are read once, as a command starts: a bad value stops it naming the variable."""
    set_debug(debug)
    _terminal_bars_on_terminals_only()
    watch_databases(debugging())
    try:
        settings()
    except ValueError as exc:
        raise fail(str(exc)) from None


def _terminal_bars_on_terminals_only() -> None:
    """MLflow draws a progress bar for every model download; off a terminal (cron, CI, a
    service's log) it is one line of hundreds of redraws. A value the user set stays."""
    if not sys.stderr.isatty():
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def training_installed() -> bool:
    return all(find_spec(name) is not None for name in TRAINING_MODULES)


def _missing_training(name: str, text: str) -> None:
    def command() -> None:
        raise fail(
            f"`leadscore {name}` needs the training extra ({', '.join(TRAINING_MODULES)}): "
            "pip install 'leadscore[train]'"
        )

    command.__doc__ = text
    anything = {"ignore_unknown_options": True, "allow_extra_args": True}
    app.command(name, context_settings=anything)(command)


onboard.register(app)
if training_installed():
    from training.cli import register

    register(app)
else:
    for _name, _text in TRAINING_COMMANDS.items():
        _missing_training(_name, _text)
app.add_typer(data.app, name="data")
for module in (registry, batch, serving, feedback, sla, monitor, report):
    module.register(app)
