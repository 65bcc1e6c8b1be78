"""What every `leadscore` command shares: the --config and --db options, and failures that end a
command with one line and an exit code (scoring/cli/errors.py) instead of a traceback."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated

import typer

from scoring.cli.errors import PIPE_CLOSED, RETRY, USAGE, Scope, explain, scrub
from scoring.config import Config, load_config
from scoring.settings import settings

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Data-source config (YAML).")]
DbOpt = Annotated[
    str | None, typer.Option("--db", help="SQLAlchemy URL overriding the config's database.")
]


def fail(message: str, code: int = USAGE) -> typer.Exit:
    typer.secho(f"error: {scrub(message)}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


_debug = {"on": False}  # `leadscore --debug`, set as the command starts


def set_debug(on: bool) -> None:
    _debug["on"] = on


def debugging() -> bool:
    """`leadscore --debug` or LEADSCORE_DEBUG: failures print their traceback too."""
    try:
        return _debug["on"] or settings().debug
    except ValueError:  # an invalid setting is reported on its own
        return False


@contextmanager
def failures(retry: str = RETRY) -> Iterator[Scope]:
    """End the command on any error with its one-line message and exit code. The block may
    name the database it uses on the scope it gets; `retry` is what to do once an unavailable
    database is back."""
    scope = Scope(retry)
    try:
        yield scope
        sys.stdout.flush()  # a reader that is gone shows here, not as Python exits
    except BrokenPipeError:
        raise _output_closed() from None
    except Exception as exc:
        if isinstance(exc, typer.Exit | typer.Abort) or hasattr(exc, "exit_code"):
            raise  # typer's own exits and usage errors carry their exit code
        if debugging():
            traceback.print_exc()
        found = explain(exc, scope)
        raise fail(found.message, found.code) from None


def _output_closed() -> typer.Exit:
    """End quietly: what the command still had buffered goes nowhere (Python would report
    it as it exits)."""
    with suppress(OSError, ValueError):  # no file descriptor: a test's captured output
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return typer.Exit(PIPE_CLOSED)


def config_of(path: Path, db: str | None) -> Config:
    return load_config(path).with_database(db)
