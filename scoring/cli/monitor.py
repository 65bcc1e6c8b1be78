"""`leadscore monitor`: is the source's champion still right? (scoring/monitoring/monitor.py)"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import sqlalchemy as sa
import typer

from scoring.cli.common import ConfigOpt, DbOpt, config_of, fail, failures
from scoring.cli.errors import BREACH
from scoring.config import Config

if TYPE_CHECKING:
    from scoring.monitoring.monitor import Model

AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Judge the model as of this time (default: now, UTC)."),
]


class Format(StrEnum):
    text = "text"
    json = "json"


def register(app: typer.Typer) -> None:
    """Add this command to the `leadscore` app."""
    app.command()(monitor)


def monitor(
    config: ConfigOpt,
    db: DbOpt = None,
    as_of: AsOfOpt = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="A local export of the source's model instead of its champion."
        ),
    ] = None,
    challenger: Annotated[
        bool,
        typer.Option(
            "--challenger/--no-challenger",
            help="Compare the source's challenger (registry alias) with the champion.",
        ),
    ] = True,
    store: Annotated[
        bool, typer.Option("--store/--no-store", help="Keep the result in lead_monitor_runs.")
    ] = True,
    output: Annotated[Format, typer.Option("--format", help="text or json.")] = Format.text,
) -> None:
    """Judge the source's champion on the leads since it was trained: calibration and ranking on
    those closed since, drift of the score and features, weekly load against capacity, SLA;
    with a challenger, both on the same closed leads. Exit code 6 when a `monitor:` limit is
    breached (the verdict says why)."""
    from scoring.data.database import connect

    with failures() as scope, tempfile.TemporaryDirectory(prefix="leadscore-monitor-") as tmp:
        cfg = config_of(config, db)
        when = _as_of(as_of)
        engine = connect(cfg.source.database, create=False)
        scope.database = engine.url
        champion, rival = _models(cfg, model, challenger, Path(tmp))
        result = judge_and_keep(cfg, engine, champion, rival, when, store)
    if output is Format.json:
        typer.echo(json.dumps(result, default=str, indent=1))
    else:
        typer.echo("\n".join(result_lines(result)))
    if any(c["status"] == "breach" for c in result["checks"]):
        raise typer.Exit(BREACH)


def _as_of(value: str | None) -> datetime:
    try:
        stamp = pd.Timestamp(value) if value else pd.Timestamp.now(tz="UTC")
    except ValueError:
        raise fail(f"--as-of: not a time: {value!r} (e.g. 2025-06-30)") from None
    stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
    return stamp.to_pydatetime()


def _models(
    cfg: Config, export: Path | None, challenger: bool, folder: Path
) -> tuple[Model, Model | None]:
    from scoring.model import registry
    from scoring.model.scorer import LeadScorer
    from scoring.monitoring.monitor import Model

    if export is not None:
        version, path = registry.load_export(export, source=cfg.name)
        return Model(version, LeadScorer.load(path)), None
    client = registry.client()
    version, path = registry.load_champion(client, folder / "champion", source=cfg.name)
    champion = Model(model_label(cfg.name, version), LeadScorer.load(path))
    if not challenger or registry.alias_version(client, "challenger", source=cfg.name) is None:
        return champion, None
    other, path = registry.load_champion(
        client, folder / "challenger", source=cfg.name, alias="challenger"
    )
    return champion, Model(model_label(cfg.name, other), LeadScorer.load(path))


def model_label(source: str, version: str) -> str:
    """How a registered version is named in results: `lead-scoring v3`."""
    from scoring.model.registry import model_name

    return f"{model_name(source)} v{version}"


def judge_and_keep(
    cfg: Config,
    engine: sa.Engine,
    champion: Model,
    challenger: Model | None,
    as_of: datetime,
    store: bool = True,
) -> dict:
    """The monitoring result (with the SLA where the config checks one), kept in
    lead_monitor_runs when `store`."""
    from scoring.monitoring.monitor import monitor as judge
    from scoring.monitoring.runs import store as keep

    result = judge(cfg, engine, champion, as_of, challenger, sla=_sla(cfg, engine, as_of))
    if store:
        result["run_id"] = keep(engine, result, datetime.now())
    return result


def _sla(cfg: Config, engine: sa.Engine, as_of: datetime) -> dict | None:
    """Each checked rule's clocks and breach rate as of `as_of`; None without rules or clocks."""
    from scoring.config import ConfigError
    from scoring.monitoring.metrics import check_sla
    from scoring.monitoring.sla import checked_rules

    if not checked_rules(cfg.sla):
        return None
    try:
        totals = check_sla(cfg, engine, as_of).totals
    except (ConfigError, sa.exc.SQLAlchemyError):
        return None
    return {
        row.rule: {
            "clocks": int(row.clocks),
            "met": int(row.met),
            "breached": int(row.breached),
            "open": int(row.open),
            "overdue": int(row.overdue),
            "breach_rate": None if pd.isna(row.breach_rate) else float(row.breach_rate),
        }
        for row in totals.itertuples(index=False)
    }


VERDICT_TEXT = {
    "ok": "ok",
    "retrain_recommended": "retrain recommended",
    "retune_recommended": "re-tune the cut-offs (`leadscore tune-thresholds`)",
    "insufficient_data": "not enough data to judge yet",
}


def result_lines(result: dict) -> list[str]:
    """What a person reads: the window, a line per check, the challenger, the verdict and why."""
    since = result.get("since")
    window = f"since {pd.Timestamp(since):%Y-%m-%d}" if since else "(no training date)"
    lines = [
        f"monitor {result['model_version']} (source {result['source']}) as of "
        f"{pd.Timestamp(result['as_of']):%Y-%m-%d %H:%M}: {result['leads']:,} leads scored "
        f"{window}, {result['closed']:,} closed",
    ]
    lines += [f"  {c['check']:<14}{c['status']:<8}{c['why']}" for c in result["checks"]]
    for rule, figures in (result.get("sla") or {}).items():
        rate = figures["breach_rate"]
        late = "" if rate is None else f", {rate:.0%} late"
        lines.append(f"  sla {rule}: {figures['clocks']:,} clocks{late}")
    lines.append(f"verdict: {VERDICT_TEXT[result['verdict']]}")
    lines += [f"  {reason}" for reason in result["reasons"]]
    if "run_id" in result:
        lines.append(f"kept as lead_monitor_runs id {result['run_id']}")
    return lines


def after_rescore(
    cfg: Config,
    engine: sa.Engine,
    champion: tuple[str, Path],
    challenger: tuple[str, Path] | None,
    as_of: datetime,
) -> list[str]:
    """`leadscore monitor` at the end of a rescoring run, as of the run: its lines, kept in
    lead_monitor_runs; a monitor that cannot run is one line saying why (the run's exit code
    stays the scoring's: alert on /metrics or run `leadscore monitor` for its exit code)."""
    from scoring.cli.errors import scrub
    from scoring.model.scorer import LeadScorer
    from scoring.monitoring.monitor import Model

    try:
        first = Model(champion[0], LeadScorer.load(champion[1]))
        rival = Model(challenger[0], LeadScorer.load(challenger[1])) if challenger else None
        return result_lines(judge_and_keep(cfg, engine, first, rival, as_of))
    except Exception as exc:
        return [f"monitor: not done: {scrub(f'{type(exc).__name__}: {exc}')}"]
