"""`leadscore report funnel`: the shared funnel report, as a table, CSV or JSON; `leadscore
report page`: the report page of a source's champion as one HTML file (docs/report.md)."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from scoring.cli.common import ConfigOpt, DbOpt, config_of, failures

app = typer.Typer(help="The reports marketing and sales both read.", no_args_is_help=True)


class GroupBy(StrEnum):
    source = "source"
    grade = "grade"
    score_band = "score_band"
    month = "month"


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def register(main: typer.Typer) -> None:
    """Add these commands to the `leadscore` app."""
    main.add_typer(app, name="report")


@app.command()
def funnel(
    config: ConfigOpt,
    db: DbOpt = None,
    by: Annotated[
        GroupBy | None,
        typer.Option(help="Group by lead source, grade, score band or month created."),
    ] = None,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="table (for people), csv or json.")
    ] = Format.table,
    as_of: Annotated[
        str | None,
        typer.Option(help="Judge the SLA clocks at this time (default: now, UTC)."),
    ] = None,
) -> None:
    """lead -> MQL -> SAL -> SQL -> won conversion, SQL-to-win, sales cycle, marketing-sourced
    revenue, cost per SQL, speed to lead against the SLA, reject reasons, and how each score
    band and grade converted: from the lead database, in total or grouped."""
    from scoring.data.database import connect
    from scoring.monitoring.funnel import funnel_report

    with failures() as scope:
        cfg = config_of(config, db)
        engine = connect(cfg.source.database, create=False)
        scope.database = engine.url
        report = funnel_report(cfg, engine, by.value if by else None, as_of)
        if format is Format.json:
            typer.echo(json.dumps(report.to_json(), indent=2))
        elif format is Format.csv:
            typer.echo(report.to_csv(), nl=False)
        else:
            _print_tables(report)


@app.command()
def page(
    config: ConfigOpt,
    db: DbOpt = None,
    source: Annotated[
        str | None,
        typer.Option(help="Whose champion (a config's `name`; default: the config's)."),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
) -> None:
    """The report page of the source's champion (model card, threshold trade-off, what-if,
    monitoring, funnel and SLA) as one self-contained HTML file: the page the service's
    /report serves, with the numbers of this lead database."""
    from scoring.data.database import connect
    from scoring.model import registry
    from scoring.monitoring.page.inputs import build_page, read_card

    with failures() as scope:
        cfg = config_of(config, db)
        name = source or cfg.name
        with tempfile.TemporaryDirectory() as tmp:
            version, folder = registry.load_champion(registry.client(), Path(tmp), source=name)
            card = read_card(folder)
        engine = connect(cfg.source.database, create=False)
        scope.database = engine.url
        label = f"{registry.model_name(name)} v{version}"
        html = build_page(cfg.model_copy(update={"name": name}), card, engine, label)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(html)
        missing = "" if card else " (no model card: a version logged before cards)"
        typer.echo(f"wrote {output} ({len(html) / 1024:,.0f} KB) for {label}{missing}")


# ---------------------------------------------------------------- the table format


def _count(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _share(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"


def _money(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _days(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _text(value: Any) -> str:
    return "(none)" if value is None else str(value)


FUNNEL = [
    ("leads", "leads", _count),
    ("mql", "MQL", _count),
    ("sal", "SAL", _count),
    ("sql", "SQL", _count),
    ("won", "won", _count),
    ("lead_to_mql", "lead>MQL", _share),
    ("mql_to_sal", "MQL>SAL", _share),
    ("sal_to_sql", "SAL>SQL", _share),
    ("mql_to_sql", "MQL>SQL", _share),
    ("sql_to_win", "SQL>win*", _share),
    ("lead_to_won", "lead>won", _share),
]
MONEY = [
    ("won_revenue", "won revenue", _money),
    ("marketing_revenue", "marketing-sourced", _money),
    ("cycle_deals", "dated wins", _count),
    ("cycle_days_median", "cycle d median", _days),
    ("cycle_days_mean", "cycle d mean", _days),
    ("spend", "spend", _money),
    ("cost_per_sql", "spend/SQL", _money),
    ("sales_cost", "SDR+AE cost", _money),
    ("sales_cost_per_sql", "SDR+AE/SQL", _money),
    ("full_cost_per_sql", "all/SQL", _money),
]
TOUCH = [
    ("first_touch_clocks", "handed over", _count),
    ("first_touch_met", "in time", _count),
    ("first_touch_late", "late", _count),
    ("first_touch_open", "running", _count),
    ("first_touch_within_sla", "within SLA", _share),
    ("first_touch_median_hours", "median bus. h", _days),
]
CALIBRATION = [
    ("leads", "leads", _count),
    ("mql_to_sql", "MQL>SQL", _share),
    ("sql_to_win", "SQL>win*", _share),
    ("scored_closed", "closed", _count),
    ("scored_win_rate", "won (actual)", _share),
    ("predicted_win_rate", "predicted", _share),
    ("mean_win_probability", "mean p (all)", _share),
    ("won_revenue", "won revenue", _money),
]
REASONS = [
    ("kind", "decision", _text),
    ("reason", "reason", _text),
    ("category", "category", lambda v: "" if v is None else str(v)),
    ("count", "count", _count),
    ("share", "share", _share),
]


def _print_tables(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    width = shutil.get_terminal_size((160, 40)).columns if sys.stdout.isatty() else 200
    console = Console(width=max(width, 100), highlight=False)

    def table(title: str, first: str, columns: list, rows: list[dict], total: dict | None):
        shown = Table(title=title, title_justify="left", show_edge=False)
        shown.add_column(first, overflow="fold")
        for _, header, _ in columns:
            shown.add_column(header, justify="right" if header != "reason" else "left")
        for i, row in enumerate(rows):
            last = total is None and i == len(rows) - 1
            shown.add_row(
                _text(row["group"]), *(f(row[k]) for k, _, f in columns), end_section=last
            )
        if total is not None:
            if rows:
                shown.rows[-1].end_section = True
            shown.add_row("all", *(f(total[k]) for k, _, f in columns), style="bold")
        console.print(shown)
        console.print()

    by = report.by or "total"
    rows = report.rows
    total = report.total
    console.print(f"[bold]Funnel report[/bold] by {by}, as of {report.as_of:%Y-%m-%d %H:%M} UTC")
    console.print()
    table("Funnel", by, FUNNEL, rows, total)
    table("Revenue, sales cycle and cost per SQL", by, MONEY, rows, total)
    if report.sources.get("first_touch"):
        table("Speed to lead (first touch against the SLA)", by, TOUCH, rows, total)
    for name, title in (("score_band", "Score bands"), ("grade", "Grades")):
        if report.calibration.get(name):
            heading = f"{title}: how the leads converted, predicted against actual"
            table(heading, name.replace("_", " "), CALIBRATION, report.calibration[name], total)
    if report.reject_reasons:
        origin = report.sources.get("reject_reasons")
        reasons = report.reject_reasons
        if report.by is None:  # ungrouped, the group None is every lead, not an unknown one
            reasons = [{**row, "group": "all"} for row in reasons]
        table(f"Reject reasons (from {origin})", by, REASONS, reasons, None)
    console.print("* SQL>win: won / closed SQLs (open SQLs are left out).")
    console.print(
        "cycle: days from lead creation to close of the dated wins (won deals with both dates); "
        "spend/SQL: SQLs counted in the month their lead was created; `--format json` has every "
        "definition."
    )
    for note in report.notes:
        console.print(f"note: {note}")
