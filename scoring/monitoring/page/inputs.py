"""The report page's inputs from a model card and the lead database: monitoring history, the
funnel report and the SLA summary, computed by the same functions as `leadscore report funnel`
and `leadscore sla` so the page shows the CLI's numbers. A part that cannot be read leaves its
section with a sentence saying why; the page is still rendered."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config
from scoring.monitoring.page.render import NO_DATABASE, PageInputs, render_page
from scoring.monitoring.runs import history as monitor_history

logger = logging.getLogger("leadscore.report")

CARD_FILE = "card.json"  # the model card, in the scorer folder of every model logged with one


def read_card(scorer_folder: Path) -> dict[str, Any] | None:
    """The model card of a scorer folder (None: a model logged before cards)."""
    found = scorer_folder / CARD_FILE
    return json.loads(found.read_text()) if found.is_file() else None


def sla_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The SLA summary as `leadscore sla --format json` writes it: plain values, None where
    missing, categories as text."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype(str).astype(object)
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in out.to_dict("records")
    ]


def sla_summary(cfg: Config, engine: sa.Engine, now: object = None) -> list[dict[str, Any]]:
    """Per checked rule of the config's `sla:`: its clocks in each state and breach rate."""
    from scoring.monitoring.sla import as_instant, checked_rules, sla_clocks, summary

    clocks = sla_clocks(cfg, engine, as_instant(now))  # type: ignore[arg-type]
    return sla_records(summary(clocks, checked_rules(cfg.sla)))


def _failed(part: str, exc: Exception) -> str:
    logger.warning("report page: %s could not be read: %s", part, exc)
    return f"the {part} could not be read from the lead database ({type(exc).__name__}: {exc})"


def page_inputs(
    cfg: Config,
    card: dict[str, Any] | None,
    engine: sa.Engine | None,
    model_version: str = "",
    now: object = None,
) -> PageInputs:
    """Everything the page shows for the source of `cfg` (its `name`)."""
    from scoring.monitoring.funnel import funnel_report

    why: dict[str, str] = {}
    history = funnel = sla = None
    if engine is None:
        why = {"monitoring": NO_DATABASE, "funnel": NO_DATABASE, "sla": NO_DATABASE}
    else:
        try:
            history = monitor_history(engine, cfg.name) or None
        except Exception as exc:  # one unreadable part leaves the others on the page
            why["monitoring"] = _failed("monitoring history", exc)
        try:
            funnel = funnel_report(cfg, engine, None, now).to_json()
        except Exception as exc:
            why["funnel"] = _failed("funnel report", exc)
        try:
            sla = sla_summary(cfg, engine, now)
        except Exception as exc:
            why["sla"] = _failed("SLA clocks", exc)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return PageInputs(
        source=cfg.name,
        card=card,
        history=history,
        funnel=funnel,
        sla=sla,
        model_version=model_version,
        generated_at=stamp,
        why=why,
    )


def build_page(
    cfg: Config,
    card: dict[str, Any] | None,
    engine: sa.Engine | None,
    model_version: str = "",
    now: object = None,
) -> str:
    """The report page of the source: `render_page(page_inputs(...))`."""
    return render_page(page_inputs(cfg, card, engine, model_version, now))
