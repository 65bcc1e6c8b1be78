"""Reading a config file: `${VAR}` expansion, paths relative to the file, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from scoring.config.base import ConfigError
from scoring.config.credentials import STAND_IN, expand_env, stand_ins
from scoring.config.document import Config


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


def _resolve_spend(raw: dict, base: Path) -> None:
    report = raw.get("report")
    spend = report.get("spend_file") if isinstance(report, dict) else None
    if isinstance(spend, str) and not Path(spend).is_absolute():
        report["spend_file"] = str((base / spend).resolve())


def load_config(path: str | Path) -> Config:
    """Load and validate a config file; relative file paths are relative to the file itself."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(expand_env(text))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    _resolve_files(raw, path.parent)
    _resolve_spend(raw, path.parent)
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
    return cfg.model_copy(update={"source": cfg.source.referencing(_written_source(text))})


def _written_source(text: str) -> object:
    """The source section as the file writes it, `${VAR}` references unexpanded. References are
    parsed as plain tokens (`${` cannot start a value in a flow mapping) and put back after."""
    tokens, found = stand_ins(text)
    refs = [ref[0] for ref in found]
    try:
        written = yaml.safe_load(tokens)
    except yaml.YAMLError:  # stored URLs are still stripped of their password
        return None
    source = written.get("source") if isinstance(written, dict) else None
    return _restored(source, refs)


def _restored(value: object, refs: list[str]) -> object:
    if isinstance(value, str):
        return STAND_IN.sub(lambda m: refs[int(m[1])], value)
    if isinstance(value, dict):
        return {k: _restored(v, refs) for k, v in value.items()}
    return value
