"""Reading a config file: `${VAR}` expansion, paths relative to the file, errors naming the key."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from scoring.config.base import ConfigError
from scoring.config.document import Config

_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def _interpolate_env(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        value = os.environ.get(match["name"])
        if value is None and match["default"] is None:
            raise ConfigError(f"environment variable {match['name']} is not set and has no default")
        return value if value is not None else match["default"]

    return _ENV_REF.sub(replace, text)


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"] if not str(p).endswith("Field")) or "(top)"
        if err["type"] == "extra_forbidden":
            lines.append(f"{path}: {where}: unknown key")
        else:
            lines.append(f"{path}: {where}: {err['msg']}")
    return "invalid config\n  " + "\n  ".join(lines)


def _resolve_files(raw: dict, base: Path) -> None:
    files = raw.get("source", {}).get("files") if isinstance(raw.get("source"), dict) else None
    if isinstance(files, dict):
        for table, file in files.items():
            if isinstance(file, str) and not Path(file).is_absolute():
                files[table] = str((base / file).resolve())
            elif isinstance(file, dict) and isinstance(path := file.get("path"), str):
                file["path"] = str((base / path).resolve())


def load_config(path: str | Path) -> Config:
    """Load and validate a config file; relative file paths are relative to the file itself."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(_interpolate_env(text))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    _resolve_files(raw, path.parent)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
