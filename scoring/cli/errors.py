"""How a failed `leadscore` command ends: one line naming the problem and what to do, and an exit
code per class of failure, never a traceback (`leadscore --debug` or LEADSCORE_DEBUG=1 adds it).

| code | class | e.g. |
|---|---|---|
| 0 | done | |
| 1 | failed | an unexpected error (a bug: rerun with --debug and report it), a run that stopped |
| 2 | usage or config | a bad option, config, setting or database URL, a missing driver |
| 3 | not found | a registered version or alias, an MLflow run, a file or folder |
| 4 | unavailable | a database or MLflow store unreachable, locked, or its connection lost |
| 5 | busy | another `leadscore rescore` holds the database's rescoring lock |
| 6 | breach | `leadscore monitor` found a `monitor:` limit breached (the verdict says why) |
| 141 | output closed | its reader stopped reading (`leadscore models` piped to `head`) |
"""

from __future__ import annotations

import logging
import re
import socket
import sys
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import ExceptionContext

from scoring.config import hide_url
from scoring.model.registry import NotFoundError, store_name

FAILED, USAGE, NOT_FOUND, UNAVAILABLE, BUSY, BREACH = 1, 2, 3, 4, 5, 6
PIPE_CLOSED = 141  # 128 + SIGPIPE: how a shell reports a program that a closed pipe ended
RETRY = "rerun the command"
# a URL quoted in a message: a password may hold spaces (up to the line's last @); the
# punctuation that ends a clause is not part of it
_URL = re.compile(r"[A-Za-z][\w+.-]*://(?:[^\s:/@]*:[^@\n]*@)?\S*[^\s.,;:'\"()<>\[\]{}]")
_PASSWORD = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)  # key=value connection strings
_DATABASE = "_leadscore_database"  # where a failed statement's engine URL is kept on its error


@dataclass(frozen=True)
class Failure:
    code: int
    message: str


@dataclass
class Scope:
    """What a failing command was doing: what to do once an unavailable database is back, and
    the database it uses (named when its driver's error does not say which)."""

    retry: str = RETRY
    database: sa.URL | None = None


def scrub(text: str) -> str:
    """`text` without the passwords and secret query values of the URLs it quotes (`hide_url`)
    nor the passwords of connection strings."""
    text = _URL.sub(lambda url: hide_url(url[0]), text)
    return _PASSWORD.sub(r"\1***", text)


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def explain(exc: Exception, scope: Scope | None = None) -> Failure:
    """The exit code and one-line message of an exception that ends a command."""
    scope = scope or Scope()
    if isinstance(exc, NotFoundError):
        return Failure(NOT_FOUND, str(exc))
    if isinstance(exc, sa.exc.SQLAlchemyError) or _driver_error(exc):
        return _database(exc, scope)
    mlflow = sys.modules.get("mlflow.exceptions")  # never imported: cannot be MLflow's
    if mlflow is not None and isinstance(exc, mlflow.MlflowException):
        return _registry(exc, scope.retry)
    if _unreachable(exc):  # the CLI's only HTTP client is MLflow's
        return _store_unreachable(exc, scope.retry)
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return Failure(NOT_FOUND, f"{exc.filename}: {exc.strerror}")
    if isinstance(exc, OSError) and exc.strerror:  # permissions, a full disk
        return Failure(FAILED, f"{exc.filename or 'a file'}: {exc.strerror}")
    if isinstance(exc, ModuleNotFoundError):
        return Failure(USAGE, f"{exc}: install it (a database URL needs its driver installed)")
    if isinstance(exc, ValueError):
        return Failure(USAGE, str(exc))
    return Failure(
        FAILED,
        f"unexpected {type(exc).__name__}: {first_line(exc)} "
        "(`leadscore --debug ...` shows the traceback; please report it)",
    )


# ---------------------------------------------------------------- databases


def watch_databases(debug: bool) -> None:
    """Have every SQLAlchemy engine of this process label its errors with its URL, so a
    message names the database that failed (the lead database or the MLflow store). Unless
    debugging, the pool's own traceback of a connection it could not reset after the
    connection was lost stays out: the failure is reported once, in one line."""
    if not sa.event.contains(sa.Engine, "handle_error", _label):
        sa.event.listen(sa.Engine, "handle_error", _label)
    logging.getLogger("sqlalchemy.pool").setLevel(logging.NOTSET if debug else logging.CRITICAL)


def _label(context: ExceptionContext) -> None:
    if context.engine is not None and context.sqlalchemy_exception is not None:
        setattr(context.sqlalchemy_exception, _DATABASE, context.engine.url)


def _classes(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__ if not c.__module__.startswith("sqlalchemy")}


def _driver_error(exc: BaseException) -> bool:
    """A database driver's own (PEP 249) error, raised where SQLAlchemy does not wrap it (a
    statement on the driver's cursor)."""
    return bool(_classes(exc) & {"DatabaseError", "InterfaceError"})


def _database_name(url: sa.URL | None) -> str:
    if url is None:
        return "the database"
    shown = hide_url(url)
    return f"the MLflow store {shown}" if shown == store_name() else f"database {shown}"


def _database(exc: Exception, scope: Scope) -> Failure:
    where = "--db or the config's source.database"
    if isinstance(exc, sa.exc.NoSuchModuleError):
        scheme = str(exc).rpartition(":")[2]
        return Failure(
            USAGE,
            f"unknown database URL scheme {scheme!r}: fix {where} (SQLAlchemy URLs read like "
            "sqlite:///data/leads.db or postgresql+psycopg://user@host:5432/leads)",
        )
    if isinstance(exc, sa.exc.ArgumentError):
        return Failure(USAGE, f"bad database URL ({first_line(exc)}): fix {where}")
    if isinstance(exc, sa.exc.SQLAlchemyError) and not isinstance(exc, sa.exc.DBAPIError):
        return Failure(FAILED, f"database error: {first_line(exc)}")
    driver = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    name = _database_name(getattr(exc, _DATABASE, None) or scope.database)
    reason, retry = first_line(driver), scope.retry
    if type(driver).__module__ == "sqlite3" and "locked" in reason:
        return Failure(
            UNAVAILABLE, f"{name} is locked by another writer ({reason}): once it is done, {retry}"
        )
    if _lost(exc, driver):
        return Failure(
            UNAVAILABLE, f"lost the connection to {name} ({reason}): once it is back, {retry}"
        )
    if _classes(driver) & {"OperationalError", "InterfaceError"}:
        return Failure(
            UNAVAILABLE,
            f"cannot use {name} ({reason}): check that it runs and its URL, then {retry}",
        )
    return Failure(FAILED, f"{name} refused a statement: {reason}")


def _lost(exc: Exception, driver: BaseException) -> bool:
    """The connection broke: SQLAlchemy saw a disconnect, or the server said so (SQLSTATE
    class 08, connection exception, or 57P, operator intervention)."""
    state = str(getattr(driver, "sqlstate", "") or "")
    return bool(getattr(exc, "connection_invalidated", False)) or state.startswith(("08", "57P"))


# ---------------------------------------------------------------- the MLflow store


def _registry(exc: Exception, retry: str) -> Failure:
    if _unreachable(exc):
        return _store_unreachable(exc, retry)
    code = NOT_FOUND if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" else USAGE
    return Failure(code, f"MLflow: {' '.join(str(exc).split())}")


def _causes(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    while exc is not None and exc not in found:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found


def _unreachable(exc: BaseException) -> bool:
    """A network error anywhere in the chain: a server that refused, timed out or has no
    address (not a closed pipe, which is the command's own output when it is raised)."""
    requests = sys.modules.get("requests.exceptions")
    kinds: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, socket.gaierror)
    if requests is not None:
        kinds += (requests.ConnectionError, requests.Timeout)
    return any(isinstance(e, kinds) and not isinstance(e, BrokenPipeError) for e in _causes(exc))


def _store_unreachable(exc: BaseException, retry: str) -> Failure:
    root = first_line(_causes(exc)[-1])
    return Failure(
        UNAVAILABLE,
        f"cannot reach the MLflow store at {store_name()} ({root}): check "
        f"MLFLOW_TRACKING_URI and that the server runs, then {retry}",
    )
