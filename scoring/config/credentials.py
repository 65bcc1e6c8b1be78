"""Credentials stay in the process: `${VAR}` references expanded when a config is read, and
database URLs as text with their password and secret query values hidden, for anything that is
printed, logged or stored (a run's config, a model's scorer, an export)."""

from __future__ import annotations

import os
import re
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from scoring.config.base import ConfigError

HIDDEN = "***"
ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
# query keys that carry a secret: ?password=, ?sslpassword=, ?api_key=, ?token=, ?secret=...
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|auth|credential", re.IGNORECASE)
_QUOTED = quote(HIDDEN, safe="")
_USERINFO = re.compile(r"(?P<head>^[^:/?#]+://[^:/@?#]*:)(?P<password>.*)@")
# what a `${VAR}` reference stands in for while text around it is parsed
STAND_IN = re.compile(r"LEADSCOREREF(\d+)X")


def expand_env(text: str) -> str:
    """`${VAR}` and `${VAR:-default}` replaced by the environment's value."""

    def replace(match: re.Match[str]) -> str:
        value = os.environ.get(match["name"])
        if value is None and match["default"] is None:
            raise ConfigError(f"environment variable {match['name']} is not set and has no default")
        return value if value is not None else match["default"]

    return ENV_REF.sub(replace, text)


def references_env(text: str) -> bool:
    return ENV_REF.search(text) is not None


def stand_ins(text: str) -> tuple[str, list[re.Match[str]]]:
    """`text` with its `${VAR}` references as plain tokens (LEADSCOREREF0X, ...: the number is
    the reference's index in the list returned with it)."""
    refs: list[re.Match[str]] = []

    def token(match: re.Match[str]) -> str:
        refs.append(match)
        return f"LEADSCOREREF{len(refs) - 1}X"

    return ENV_REF.sub(token, text), refs


def hide_url(url: str | URL) -> str:
    """The URL as text with its password and any secret-looking query value as ***; text that is
    no SQLAlchemy URL with what would be its password hidden. `${VAR}` references stay, their
    defaults hidden the same way: a password that is a reference is kept, its default as ***."""
    if isinstance(url, URL) or not references_env(url):
        return _hidden(url)
    text, refs = stand_ins(url)
    password = _password(text)
    kept = password if password is not None and STAND_IN.fullmatch(password) else None

    def put_back(token: re.Match[str]) -> str:
        ref = refs[int(token[1])]
        if ref["default"] is None:
            return ref[0]
        default = HIDDEN if token[0] == kept else hide_url(ref["default"])
        return f"${{{ref['name']}:-{default}}}"

    return STAND_IN.sub(put_back, _hidden(text, kept))


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        found = _USERINFO.match(url)
        return found["password"] if found else None


def _hidden(url: str | URL, kept: str | None = None) -> str:
    """`hide_url` of a URL, its password shown only when it equals `kept`."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # no URL, or a port that is no number
        return _USERINFO.sub(
            lambda m: m[0] if m["password"] == kept else f"{m['head']}{HIDDEN}@", str(url), count=1
        )
    if parsed.host and "@" in parsed.host:  # an unescaped @ in the password: all of it is secret
        parsed = parsed.set(password=HIDDEN, host=parsed.host.rsplit("@", 1)[1])
    query = {k: HIDDEN if _SECRET_KEY.search(k) else v for k, v in parsed.query.items()}
    text = parsed.set(query=query).render_as_string(hide_password=parsed.password != kept)
    return text.replace(f"={_QUOTED}", f"={HIDDEN}")  # *** as itself, not %2A%2A%2A


def hides_password(url: str) -> bool:
    """Whether `url` is a stored URL whose password was hidden (`hide_url`)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    secrets = [v for k, v in parsed.query.items() if _SECRET_KEY.search(k)]
    return parsed.password == HIDDEN or HIDDEN in secrets
