"""`leadscore sla`: the handoff agreement's open and recent breaches, with who owns each, and a
line per rule (scoring/monitoring/sla.py computes the clocks)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import numpy as np
import pandas as pd
import sqlalchemy as sa
import typer

from scoring.cli.common import ConfigOpt, DbOpt, config_of, fail, failures

TIME = "%Y-%m-%dT%H:%M:%S"
TIME_COLUMNS = ("started_at", "due_at", "met_at")


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def register(app: typer.Typer) -> None:
    """Add these commands to the `leadscore` app."""
    app.command()(sla)


def sla(
    config: ConfigOpt,
    db: DbOpt = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Check the clocks as they stood at this time (default: now; naive times are "
            "UTC), e.g. 2025-06-30T14:00:00Z.",
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="List every clock, not only the breaches.")
    ] = False,
    output: Annotated[
        Format, typer.Option("--format", help="table (for people), csv or json (for programs).")
    ] = Format.table,
) -> None:
    """Service-level agreement of the handoff (the config's `sla:`): marketing's delivery of MQLs
    and sales' first touch, contact attempts and SAL-to-SQL decision. Lists the open breaches
    (overdue clocks) and the clocks breached within `sla.recent_days`, with their owner, then a
    line per rule. Breaches are data: the command exits 0 when it ran."""
    from scoring.data.database import connect
    from scoring.monitoring.sla import breaches, checked_rules, sla_clocks, summary

    with failures() as scope:
        now = _as_of(as_of)
        cfg = config_of(config, db)
        engine = connect(cfg.source.database, create=False)
        scope.database = engine.url
        clocks = sla_clocks(cfg, engine, now)
        listed = clocks if every else breaches(clocks, now, cfg.sla.recent_days)
        if every:
            listed = listed.sort_values(["rule", "lead_id"], kind="stable")
        totals = summary(clocks, checked_rules(cfg.sla))
        _note_missing_feedback(engine)
        stamp = pd.Timestamp(now).strftime(TIME)
        if output is Format.json:
            document = {
                "as_of": stamp,
                "listed": "all" if every else "breaches",
                "recent_days": cfg.sla.recent_days,
                "clocks": _records(listed),
                "summary": _records(totals),
            }
            typer.echo(json.dumps(document, indent=1))
        elif output is Format.csv:
            typer.echo(_plain(listed).to_csv(index=False), nl=False)
            for line in _summary_lines(totals):
                typer.echo(line, err=True)
        else:
            _print_table(listed, totals, stamp, every, cfg.sla.recent_days)


def _as_of(value: str | None) -> np.datetime64:
    """--as-of as naive UTC (now without it)."""
    from scoring.monitoring.sla import as_instant

    try:
        return as_instant(value)
    except ValueError:
        raise fail(
            f"--as-of: not a time: {value!r} (e.g. 2025-06-30 or 2025-06-30T14:00:00Z)"
        ) from None


def _note_missing_feedback(engine: sa.Engine) -> None:
    from scoring.feedback.table import FEEDBACK

    if not sa.inspect(engine).has_table(FEEDBACK):
        typer.echo(
            f"note: the database has no {FEEDBACK} table yet: no contact or sales decision is "
            "recorded, so sales' clocks run until feedback arrives (`leadscore feedback`)",
            err=True,
        )


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Text times (ISO, UTC), plain values, None where missing."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if column in TIME_COLUMNS:
            out[column] = values.dt.strftime(TIME).astype(object)
        elif isinstance(values.dtype, pd.CategoricalDtype):
            out[column] = values.astype(str).astype(object)
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def _records(frame: pd.DataFrame) -> list[dict]:
    records = _plain(frame).to_dict("records")
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in records
    ]


def _late(row: pd.Series) -> str:
    hours = row["late_hours"]
    if pd.isna(hours):
        return ""
    if row["unit"] == "business_hours":
        return f"{hours:.1f} business h"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def _summary_lines(totals: pd.DataFrame) -> list[str]:
    from scoring.monitoring.metrics import summary_lines

    return summary_lines(totals)


def _print_table(
    listed: pd.DataFrame, totals: pd.DataFrame, stamp: str, every: bool, recent: float
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout)
    if not console.is_terminal:  # a file or a pipe: no wrapping inside a row
        console = Console(file=sys.stdout, width=200)
    what = (
        "every SLA clock"
        if every
        else f"SLA breaches: overdue, and late in the last {recent:g} days"
    )
    if listed.empty:
        console.print(f"No {'clocks' if every else 'open or recent breaches'} as of {stamp} UTC.")
    else:
        table = Table(title=f"{what} (as of {stamp} UTC; times in UTC)")
        for header in ("owner", "stage", "rule", "lead", "started", "due", "met", "state", "late"):
            table.add_column(header, no_wrap=True)
        for _, row in listed.iterrows():
            table.add_row(
                _owner(row["owner"], row["team"]),
                str(row["stage"]),
                str(row["rule"]),
                str(row["lead_id"]),
                *(_short(row[c]) for c in TIME_COLUMNS),
                str(row["state"]),
                _late(row),
            )
        console.print(table)
    for line in _summary_lines(totals):
        console.print(line, highlight=False, soft_wrap=True)


def _owner(owner: str, team: str) -> str:
    from scoring.monitoring.metrics import owner_text

    return owner_text(owner, team)


def _short(value: object) -> str:
    return "" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
