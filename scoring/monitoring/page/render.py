"""The report page RevOps and sales leaders read: one self-contained HTML file per source (inline
CSS, script and SVG charts; nothing from the network) with the model card, the threshold
trade-off, the what-if, monitoring trends and drift, and the funnel and SLA numbers.

`render_page` only renders what it is given (`PageInputs`); `scoring.monitoring.page.inputs`
gathers the inputs from a model card and the lead database, the same way for the service's
/report, `leadscore report page` and the MLflow artifact of a training."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from scoring.monitoring.page.card import model_card_section, threshold_section, whatif_section
from scoring.monitoring.page.elements import esc
from scoring.monitoring.page.live import funnel_section, monitoring_section

NO_MONITORING = "no monitoring run yet: run `leadscore monitor`"
NO_DATABASE = "no lead database: set LEADSCORE_LEAD_DB (service) or pass --db"
NO_CARD = (
    "no model card: this model version was trained before cards were written; train it again "
    "(`leadscore train`) to get one"
)


@dataclass(frozen=True)
class PageInputs:
    """What the page shows; None where a part is missing, with `why` saying so (section key:
    "model-card", "monitoring", "funnel", "sla")."""

    source: str
    card: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None  # monitoring runs, oldest first
    funnel: dict[str, Any] | None = None  # FunnelReport.to_json()
    sla: list[dict[str, Any]] | None = None  # the SLA summary, as `leadscore sla --format json`
    model_version: str = ""
    generated_at: str = ""
    why: dict[str, str] = field(default_factory=dict)


@cache
def asset(name: str) -> str:
    return resources.files("scoring.monitoring.page").joinpath("assets", name).read_text()


def _script_json(value: Any) -> str:
    """JSON safe inside <script>: no `</` can close the element."""
    return json.dumps(value, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")


def _whatif_data(card: dict[str, Any] | None) -> str:
    th = (card or {}).get("thresholds")
    if not th or not (th.get("grid") or {}).get("rows"):
        return ""
    data = {"grid": th["grid"], "costs": th["costs"], "unit": th.get("unit") or ""}
    return f'<script id="whatif-data" type="application/json">{_script_json(data)}</script>'


NAV = (
    ("model-card", "Model card"),
    ("thresholds", "Thresholds"),
    ("whatif", "What if"),
    ("monitoring", "Monitoring"),
    ("funnel", "Funnel and SLA"),
)


def render_page(inputs: PageInputs) -> str:
    """The whole page as one HTML document."""
    card = inputs.card
    why = inputs.why
    sections = [
        model_card_section(card, why.get("model-card", NO_CARD)),
        threshold_section(card),
        whatif_section(card),
        monitoring_section(inputs.history, why.get("monitoring", NO_MONITORING)),
        funnel_section(inputs.funnel, inputs.sla, why),
    ]
    model = inputs.model_version or (card or {}).get("registered_model", "")
    nav = "".join(f'<a href="#{key}">{esc(label)}</a>' for key, label in NAV)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Lead scoring report: {esc(inputs.source)}</title>"
        f"<style>{asset('report.css')}</style></head>"
        f'<body data-source="{esc(inputs.source)}">'
        f"<header><h1>Lead scoring report: {esc(inputs.source)}</h1>"
        f'<p>Model <span data-testid="model-version">{esc(model)}</span> · generated '
        f'<span data-testid="generated-at">{esc(inputs.generated_at)}</span> UTC</p></header>'
        f"<nav>{nav}</nav><main>{''.join(sections)}</main>"
        "<footer>leadscore · open lead scoring and handoff calibration · this page needs no "
        "network</footer>"
        '<div id="tip" role="tooltip"></div>'
        f"{_whatif_data(card)}<script>{asset('report.js')}</script></body></html>"
    )
