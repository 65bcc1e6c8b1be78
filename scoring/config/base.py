"""Shared pieces of the config models: strict frozen models, the error type, names."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

DEFAULT_DATABASE = "sqlite:///data/leads.db"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(ValueError):
    """A configuration file is invalid or does not match the data; the message names the field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def slug(text: str) -> str:
    """A snake_case name for a column header: "Time on Site (min)" -> time_on_site_min."""
    out = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return out if out and out[0].isalpha() else f"f_{out}"
