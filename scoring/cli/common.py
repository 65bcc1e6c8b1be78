"""What every `leadscore` command shares: the --config and --db options, and errors that end a
command with their message instead of a traceback."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from scoring.config import Config, ConfigError, load_config

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Data-source config (YAML).")]
DbOpt = Annotated[
    str | None, typer.Option("--db", help="SQLAlchemy URL overriding the config's database.")
]


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Config and data errors end the command with their message, not a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, KeyError, ValueError) as exc:
            raise fail(str(exc)) from None

    return wrapper


def config_of(path: Path, db: str | None) -> Config:
    return load_config(path).with_database(db)
