"""Shared pieces of the config models: strict frozen models, the error type, names."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

DEFAULT_DATABASE = "sqlite:///data/leads.db"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


TRUE_SPELLINGS = ("true", "yes", "y", "t", "1", "on")
FALSE_SPELLINGS = ("false", "no", "n", "f", "0", "off")


def as_texts(value: object) -> object:
    """YAML scalars as the text a file holds: `won: [1]` is "1", `won: [yes]` (a YAML boolean)
    is every spelling of yes. Values are compared with the data case-insensitively as text."""
    if not isinstance(value, list):
        return value
    out: list[object] = []
    for item in value:
        if isinstance(item, bool):
            out += TRUE_SPELLINGS if item else FALSE_SPELLINGS
        elif isinstance(item, int | float):
            out.append(f"{item:g}")
        else:
            out.append(item)
    return list(dict.fromkeys(out))


class ConfigError(ValueError):
    """A configuration file is invalid or does not match the data; the message names the field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def slug(text: str) -> str:
    """A snake_case name for a column header: "Time on Site (min)" -> time_on_site_min."""
    out = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return out if out and out[0].isalpha() else f"f_{out}"
