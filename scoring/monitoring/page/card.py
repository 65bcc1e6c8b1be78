"""The report page's sections from the model card: the card itself (data, recipe, metrics next
to the baselines, calibration, top fields, gate), the threshold trade-off and the what-if."""

from __future__ import annotations

from typing import Any

from scoring.monitoring.page.elements import (
    Bar,
    Point,
    bars,
    calibration_scatter,
    empty,
    esc,
    fmt,
    num,
    raw,
    scatter,
    section,
    table,
    text,
    tiles,
)
from scoring.monitoring.whatif import Costs, choose

METRICS = (
    ("roc_auc", "ROC AUC", "higher is better: how well the score ranks winners above losers"),
    ("pr_auc", "PR AUC", "higher is better"),
    ("log_loss", "log loss", "lower is better"),
    ("brier", "Brier", "lower is better"),
    ("ece", "ECE", "lower is better: gap between predicted and observed win rate"),
    ("revenue_weighted_auc", "revenue AUC", "AUC with each lead weighted by its deal value"),
    ("lift_top10", "lift top 10%", "win rate of the top 10% over the average"),
)
MODEL_NAMES = {
    "combined": "this model (combined)",
    "fit": "fit model alone",
    "intent": "intent model alone",
    "joint": "joint model alone",
    "logistic_regression": "baseline: logistic regression",
    "naive_bayes": "baseline: naive Bayes",
}


def model_card_section(card: dict[str, Any] | None, why: str) -> str:
    if card is None:
        return section("model-card", "Model card", empty("model-card", why))
    data = card["data"]
    period = data.get("period") or {}
    first, last = period.get("first"), period.get("last")
    figures = tiles(
        [
            ("closed leads", num("card-leads", data["leads"], "count")),
            ("won", num("card-won", data["won"], "count")),
            ("win rate", num("card-win-rate", data["win_rate"], "share")),
            ("test fold", num("card-test-leads", data.get("test_leads"), "count")),
        ]
    )
    folds = ", ".join(f"{esc(k)} {v:,}" for k, v in (data.get("folds") or {}).items())
    span = (
        f"created {text('card-period-first', first)} to {text('card-period-last', last)}"
        if first
        else "no creation dates"
    )
    facts = (
        f'<p class="facts">Source {text("card-source", card["source"])} · registered as '
        f"{text('card-model', card['registered_model'])} · trained "
        f"{esc(card.get('created_at', ''))} · leads {span} · folds {folds} · weighting "
        f"{esc(data.get('weighting'))}</p>"
        f'<p class="recipe"><b>Recipe.</b> {esc(card.get("recipe"))}</p>'
    )
    if card.get("refit"):
        facts += f'<p class="recipe"><b>Registered model.</b> {esc(card["refit"])}</p>'
    gate = card["gate"]
    verdict = "passed" if gate["passed"] else "refused"
    gate_html = (
        f'<div class="gate {verdict}" data-testid="gate" data-value="{verdict}">'
        f"<b>Quality gate {verdict}.</b> {esc(gate['message'])}</div>"
    )
    body = (
        figures
        + facts
        + gate_html
        + _metrics_table(card)
        + '<div class="row">'
        + _calibration_chart(card.get("calibration_curve") or [])
        + _fields_chart(card.get("top_fields") or [])
        + "</div>"
    )
    held_out = "the latest leads" if first else "leads held out from training"
    lead = (
        "What the model learnt from, how well it ranks and how honest its probabilities are "
        f"on the held-out test fold ({held_out}), next to two simple baselines."
    )
    return section("model-card", "Model card", body, lead)


def _metrics_table(card: dict[str, Any]) -> str:
    metrics = card.get("metrics") or {}
    rows = []
    for model in [m for m in MODEL_NAMES if m in metrics] + [
        m for m in metrics if m not in MODEL_NAMES
    ]:
        values = metrics[model]
        cells = [esc(MODEL_NAMES.get(model, model))]
        for key, _, _ in METRICS:
            cell = num(f"metric-{model}-{key}", values.get(key))
            if key == "roc_auc" and values.get("roc_auc_ci_low") is not None:
                low = num(f"metric-{model}-roc_auc_ci_low", values["roc_auc_ci_low"])
                high = num(f"metric-{model}-roc_auc_ci_high", values["roc_auc_ci_high"])
                cell += f' <span class="ci">[{low} - {high}]</span>'
            cells.append(cell)
        rows.append(cells)
    headers = ["model", *(f"{label}" for _, label, _ in METRICS)]
    notes = " · ".join(f"<b>{esc(label)}</b>: {esc(why)}" for _, label, why in METRICS[:5])
    return (
        table(headers, rows, "metrics-table")
        + f'<p class="note">Brackets: 95% bootstrap interval of the AUC. {notes}.</p>'
    )


def _calibration_chart(curve: list[dict[str, Any]]) -> str:
    points = [
        Point(
            band["predicted"],
            band["observed"],
            f"{band['leads']:,} leads predicted {fmt(band['predicted'], 'share')}, "
            f"won {fmt(band['observed'], 'share')}",
            {
                "testid": f"calibration-{i}",
                "predicted": band["predicted"],
                "observed": band["observed"],
                "leads": band["leads"],
            },
        )
        for i, band in enumerate(curve)
    ]
    return calibration_scatter(
        "calibration-chart",
        "Calibration: predicted against observed win rate (test fold, 10 bands)",
        points,
        "predicted win probability",
        "observed win rate",
    )


def _fields_chart(fields: list[dict[str, Any]]) -> str:
    items = [
        Bar(
            f"{f['label']} ({f['model']})",
            f["mean_abs_points"],
            f"{f['label']}: moves a lead's win probability by {f['mean_abs_points']:.2f} pts on "
            f"average ({f['model']} model)",
            f"field-{i}",
            css=f"bar {f['model']}",
        )
        for i, f in enumerate(fields)
    ]
    return bars(
        "Fields that matter most: mean |impact| on the win probability, in points",
        items,
        lambda v: f"{v:.2f} pts",
        "fields-chart",
    )


# ---------------------------------------------------------------- thresholds


def threshold_section(card: dict[str, Any] | None) -> str:
    th = card.get("thresholds") if card else None
    if th is None:
        why = (
            "no threshold study with this model: the cut-offs are the model's defaults; run "
            "`leadscore train --tune-thresholds` or `leadscore tune-thresholds`"
        )
        if card is None:
            why = "no model card: see the model card section"
        return section("thresholds", "Threshold trade-off", empty("thresholds", why))
    unit = th.get("unit") or ""
    chosen, out, costs = th["chosen"], th["outcome"], th["costs"]
    figures = [
        ("MQL cut-off (expected revenue)", num("chosen-mql", chosen["mql"], "money", unit)),
        ("SQL cut-off (expected revenue)", num("chosen-sql", chosen["sql"], "money", unit)),
    ]
    if th.get("tunes_min_fit"):
        figures.append(("minimum fit score", num("chosen-min_fit", chosen["min_fit"], "count")))
    figures.append(
        ("net value, held-out leads", num("tuned-net-value", out["net_value"], "money", unit))
    )
    body = tiles(figures)
    if th.get("degenerate"):
        body += (
            f'<div class="gate refused"><b>Not a policy to serve.</b> {esc(th["degenerate"])}</div>'
        )
    body += '<div class="row">' + _pareto_chart(th) + _load_chart(th) + "</div>"
    body += _money_table(th)
    lead = (
        f"The study ({esc(th['trials'])} trials, {esc(th['replay'])} replay of "
        f"{th['replayed_leads']:,} held-out leads) chose the cut-offs that earn the most net "
        "value (revenue of the handed-off leads minus SDR and AE time) within the teams' "
        f"capacity. SDR cost per MQL {fmt(costs['sdr_cost_per_mql'], 'money')}, AE cost per SQL "
        f"{fmt(costs['ae_cost_per_sql'], 'money')}."
    )
    return section("thresholds", "Threshold trade-off", body, lead)


def _pareto_chart(th: dict[str, Any]) -> str:
    chosen, unit = th["chosen"], th.get("unit") or ""
    points = []
    for i, p in enumerate(th.get("pareto") or []):
        is_chosen = all(p[k] == chosen[k] for k in ("mql", "sql", "min_fit"))
        tip = (
            f"MQL >= {fmt(p['mql'], 'money')}, SQL >= {fmt(p['sql'], 'money')}, min fit "
            f"{p['min_fit']:g}: net {fmt(p['net_value'], 'money', unit)}, workload "
            f"{fmt(p['workload'], 'count')}" + (" (chosen)" if is_chosen else "")
        )
        attrs = {"testid": f"pareto-{i}", "net": p["net_value"], "workload": p["workload"]}
        points.append(Point(p["workload"], p["net_value"], tip, attrs, is_chosen))
    per_week = th.get("load") is not None
    return scatter(
        "pareto-chart",
        "Pareto front: net value against sales workload (highlighted: chosen)",
        sorted(points, key=lambda p: p.x),
        "SDR reviews + AE SQLs a week" if per_week else "SDR reviews + AE SQLs (replayed leads)",
        "net value (held-out leads)",
        lambda v: fmt(v, "count"),
        lambda v: fmt(v, "money"),
        line=True,
        x_zero=True,
    )


def _load_chart(th: dict[str, Any]) -> str:
    load, costs = th.get("load"), th["costs"]
    if load is None:
        return empty(
            "load",
            "weekly load unknown: the data has no creation dates, so capacity was not applied; "
            "set `costs.leads_per_week`",
        )
    planned = 1 - costs["capacity_headroom"]
    items = [
        Bar(
            "SDR reviews a week",
            load["sdr_per_week"],
            f"SDR: {fmt(load['sdr_per_week'], 'count')} MQLs a week of "
            f"{costs['sdr_capacity_per_week']:g} "
            f"(plan {costs['sdr_capacity_per_week'] * planned:g})",
            "load-sdr",
            costs["sdr_capacity_per_week"] * planned,
            "bar sdr",
        ),
        Bar(
            "AE SQLs a week",
            load["ae_per_week"],
            f"AE: {fmt(load['ae_per_week'], 'count')} SQLs a week of "
            f"{costs['ae_capacity_per_week']:g} (plan {costs['ae_capacity_per_week'] * planned:g})",
            "load-ae",
            costs["ae_capacity_per_week"] * planned,
            "bar ae",
        ),
    ]
    caption = (
        f"Weekly load against capacity (line: capacity less {costs['capacity_headroom']:.0%} "
        "headroom)"
    )
    chart = bars(caption, items, lambda v: fmt(v, "count"), "load-chart")
    capacity = (
        f'<p class="note">Capacity: SDR '
        f"{num('capacity-sdr', costs['sdr_capacity_per_week'], 'count')} MQL reviews and AE "
        f"{num('capacity-ae', costs['ae_capacity_per_week'], 'count')} SQLs a week; headroom "
        f"{num('capacity-headroom', costs['capacity_headroom'], 'share')}.</p>"
    )
    return f"<div>{chart}{capacity}</div>"


_CUTOFF_NAMES = {"min_fit": "min fit", "nurture": "no handoff (nurture)"}


def _money_table(th: dict[str, Any]) -> str:
    unit = th.get("unit") or ""
    rows = []
    for m in th.get("money") or []:
        key = m["cutoff"]
        kind = {"min_fit": "count", "nurture": "share"}.get(key, "money")
        rows.append(
            [
                esc(_CUTOFF_NAMES.get(key, key.upper())),
                num(f"money-{key}-value", m["value"], kind, unit if kind == "money" else ""),
                esc(m["meaning"]),
                num(f"money-{key}-cost", m["handoff_cost"], "money", unit),
                num(f"money-{key}-handoffs", m["handoffs"], "count"),
                num(f"money-{key}-per-week", m["handoffs_per_week"], "count"),
                num(f"money-{key}-net", m["net_value"], "money", unit),
                num(f"money-{key}-net-per-week", m["net_value_per_week"], "money", unit),
            ]
        )
    headers = [
        "cut-off",
        "value",
        "what it means",
        "cost of one handoff",
        "handoffs (held-out)",
        "a week",
        "net value (held-out)",
        "net value a week",
    ]
    return "<h3>What each cut-off means in money</h3>" + table(headers, rows, "money-table")


# ---------------------------------------------------------------- what-if


def whatif_section(card: dict[str, Any] | None) -> str:
    th = card.get("thresholds") if card else None
    if th is None or not (th.get("grid") or {}).get("rows"):
        why = (
            "no threshold study with this model, so no policies to choose from: run "
            "`leadscore train --tune-thresholds`"
        )
        return section("whatif", "What if", empty("whatif", why))
    costs = th["costs"]
    choice = choose(th["grid"], Costs.of(costs))
    inputs = [
        ("sdr_cost_per_mql", "SDR cost per MQL", costs["sdr_cost_per_mql"], "1"),
        ("ae_cost_per_sql", "AE cost per SQL", costs["ae_cost_per_sql"], "1"),
        ("sdr_capacity_per_week", "SDR capacity a week", costs["sdr_capacity_per_week"], "1"),
        ("ae_capacity_per_week", "AE capacity a week", costs["ae_capacity_per_week"], "1"),
        ("capacity_headroom", "headroom (share kept free)", costs["capacity_headroom"], "0.01"),
    ]
    form = "".join(
        f'<label>{esc(label)}<input type="number" min="0" step="{step}" id="whatif-{key}" '
        f'data-testid="whatif-input-{key}" data-key="{key}" value="{raw(value)}"></label>'
        for key, label, value, step in inputs
    )
    unit = th.get("unit") or ""
    assert choice is not None  # a non-empty grid holds the hand-off-nobody policy
    out = tiles(
        [
            ("MQL cut-off", _out("mql", choice.mql, "money", unit)),
            ("SQL cut-off", _out("sql", choice.sql, "money", unit)),
            ("minimum fit", _out("min_fit", choice.min_fit, "count")),
            ("net value (held-out)", _out("net_value", choice.net_value, "money", unit)),
            ("SDR load a week", _out("sdr_per_week", choice.sdr_per_week, "count")),
            ("AE load a week", _out("ae_per_week", choice.ae_per_week, "count")),
        ]
    )
    meta = (
        f'<p class="note" data-testid="whatif-status">Chosen from '
        f'<span data-testid="whatif-feasible" data-value="{choice.feasible_policies}">'
        f"{choice.feasible_policies:,}</span> policies that fit, of {len(th['grid']['rows']):,} "
        f'evaluated on the held-out replay (row <span data-testid="whatif-row" '
        f'data-value="{choice.row}">{choice.row}</span>). Net value = revenue - MQLs x SDR cost '
        "- AE SQLs x AE cost, exactly as the study counts it; the revenue each policy brings "
        "does not depend on these inputs.</p>"
    )
    body = (
        f'<form class="whatif" data-testid="whatif-form" onsubmit="return false">{form}'
        f'<button type="button" id="whatif-reset">reset</button></form>{out}'
        f'<div id="whatif-bars"></div>{meta}'
    )
    lead = (
        "Change the costs or the teams' capacity: the page picks, from the policies the study "
        "evaluated, the one with the highest net value whose weekly load fits."
    )
    return section("whatif", "What if", body, lead)


def _out(key: str, value: Any, kind: str, unit: str = "") -> str:
    return (
        f'<span class="num" id="whatif-out-{key}" data-testid="whatif-{key}" '
        f'data-kind="{kind}" data-value="{raw(value)}">{esc(fmt(value, kind, unit))}</span>'
    )
