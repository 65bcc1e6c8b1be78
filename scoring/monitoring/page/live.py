"""The report page's sections from the lead database: monitoring runs (trends, calibration on
what closed, drift, load, challenger, checks), the funnel report and the SLA summary."""

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
    scatter,
    section,
    table,
    text,
    tiles,
)

VERDICTS = {
    "ok": "ok",
    "retrain_recommended": "retrain recommended",
    "insufficient_data": "insufficient data",
}


def _get(doc: dict[str, Any] | None, *keys: str) -> Any:
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def monitoring_section(history: list[dict[str, Any]] | None, why: str) -> str:
    title = "Monitoring: calibration, drift and load since training"
    if not history:
        return section("monitoring", title, empty("monitoring", why))
    latest = history[-1]
    result = latest.get("result") or {}
    verdict = latest.get("verdict") or result.get("verdict")
    cal = result.get("calibration") or {}
    drift = result.get("drift") or {}
    ece = num("monitor-ece", cal.get("ece"), "psi")
    if cal.get("ece_low") is not None:
        ece += (
            f' <span class="ci">[{num("monitor-ece-low", cal.get("ece_low"), "psi")} - '
            f"{num('monitor-ece-high', cal.get('ece_high'), 'psi')}]</span>"
        )
    auc = num("monitor-auc", cal.get("auc"), "psi")
    if cal.get("auc_low") is not None:
        auc += (
            f' <span class="ci">[{num("monitor-auc-low", cal.get("auc_low"), "psi")} - '
            f"{num('monitor-auc-high', cal.get('auc_high'), 'psi')}]</span>"
        )
    figures = tiles(
        [
            ("verdict", _verdict(verdict)),
            ("checks breached", num("monitor-breaches", latest.get("breaches"), "count")),
            ("leads scored since", num("monitor-leads", result.get("leads"), "count")),
            ("closed since", num("monitor-closed", result.get("closed"), "count")),
            ("ECE on closed leads", ece),
            ("AUC on closed leads", auc),
            ("score drift (PSI)", num("monitor-score-psi", drift.get("score_psi"), "psi")),
        ]
    )
    facts = (
        f'<p class="facts">Latest run {text("monitor-run-id", latest.get("id"))} checked '
        f"{text('monitor-checked-at', latest.get('checked_at'))} for model "
        f"{text('monitor-model-version', latest.get('model_version'))}, leads since "
        f"{esc(latest.get('since'))} as of {esc(latest.get('as_of'))}.</p>"
    )
    reasons = result.get("reasons") or []
    if reasons:
        facts += '<ul class="reasons">' + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ul>"
    body = (
        figures
        + facts
        + '<div class="row">'
        + _trend(history)
        + _bands_chart(cal.get("bands") or [])
        + "</div>"
        + '<div class="row">'
        + _drift_chart(drift.get("features") or [])
        + _load_chart(result.get("load"))
        + "</div>"
        + _challenger(result.get("challenger"))
        + _checks(result.get("checks") or [])
    )
    lead = (
        f"{len(history)} monitoring run(s) of this source, the latest first in the figures. "
        "Calibration is measured on the leads that closed since the model was trained; drift "
        "compares the inputs and scores of recent leads with the training data (PSI above 0.2 "
        "is a large shift)."
    )
    return section("monitoring", title, body, lead)


def _verdict(verdict: str | None) -> str:
    css = {"ok": "ok", "retrain_recommended": "bad"}.get(verdict or "", "warn")
    return (
        f'<span class="verdict {css}" data-testid="monitor-verdict" data-value="{esc(verdict)}">'
        f"{esc(VERDICTS.get(verdict or '', verdict or '-'))}</span>"
    )


def _trend(history: list[dict[str, Any]]) -> str:
    points = []
    for i, run in enumerate(history):
        cal = _get(run, "result", "calibration") or {}
        ece, psi = cal.get("ece"), _get(run, "result", "drift", "score_psi")
        tip = (
            f"{run.get('as_of')}: ECE {fmt(ece, 'psi')}, AUC {fmt(cal.get('auc'), 'psi')}, "
            f"score PSI {fmt(psi, 'psi')}, {VERDICTS.get(run.get('verdict') or '', '')}"
        )
        attrs = {"testid": f"trend-{i}", "ece": ece, "run": run.get("id")}
        points.append(Point(float(i), ece, tip, attrs, run.get("verdict") != "ok"))
    return scatter(
        "trend-chart",
        "Calibration error (ECE) run after run (highlighted: not ok)",
        points,
        "monitoring run (as of)",
        "ECE",
        lambda v: f"{v:.0f}",
        lambda v: fmt(v, "psi"),
        line=True,
        x_labels=[(float(i), str(run.get("as_of") or "")[:10]) for i, run in enumerate(history)],
    )


def _bands_chart(bands: list[dict[str, Any]]) -> str:
    points = [
        Point(
            b.get("predicted"),
            b.get("observed"),
            f"{b.get('leads')} leads with p in [{fmt(b.get('low'), 'share')}, "
            f"{fmt(b.get('high'), 'share')}): predicted {fmt(b.get('predicted'), 'share')}, "
            f"won {fmt(b.get('observed'), 'share')}",
            {"testid": f"monitor-band-{i}", "observed": b.get("observed")},
        )
        for i, b in enumerate(bands)
    ]
    return calibration_scatter(
        "monitor-bands-chart",
        "Latest run: predicted against observed win rate of the closed leads",
        points,
        "predicted",
        "observed",
    )


def _drift_chart(features: list[dict[str, Any]]) -> str:
    ranked = sorted(
        [f for f in features if isinstance(f.get("psi"), int | float)], key=lambda f: -f["psi"]
    )[:10]
    if not ranked:
        return empty("drift", "no feature drift computed in the latest run")
    items = [
        Bar(
            f"{f['feature']} ({f.get('group') or '-'})",
            f["psi"],
            f"{f['feature']}: PSI {f['psi']:.3f}; missing "
            f"{fmt(f.get('missing_reference'), 'share')} in training, "
            f"{fmt(f.get('missing_now'), 'share')} now",
            f"drift-{f['feature']}",
            0.2,
            "bar drift" if f["psi"] < 0.2 else "bar drift high",
        )
        for f in ranked
    ]
    return bars(
        "Feature drift (PSI; line: 0.2, a large shift)", items, lambda v: f"{v:.3f}", "drift-chart"
    )


def _load_chart(load: dict[str, Any] | None) -> str:
    if not load:
        return empty("monitor-load", "no weekly load in the latest run")
    items = [
        Bar(
            "MQLs a week",
            load.get("mql_per_week"),
            f"{fmt(load.get('mql_per_week'), 'count')} MQLs a week; SDR capacity "
            f"{fmt(load.get('sdr_capacity'), 'count')}",
            "monitor-mql-per-week",
            load.get("sdr_capacity"),
            "bar sdr",
        ),
        Bar(
            "SQLs a week",
            load.get("sql_per_week"),
            f"{fmt(load.get('sql_per_week'), 'count')} SQLs a week; AE capacity "
            f"{fmt(load.get('ae_capacity'), 'count')}",
            "monitor-sql-per-week",
            load.get("ae_capacity"),
            "bar ae",
        ),
    ]
    return bars(
        "Handoffs a week since training (line: capacity)",
        items,
        lambda v: fmt(v, "count"),
        "monitor-load-chart",
    )


def _challenger(challenger: dict[str, Any] | None) -> str:
    if not challenger:
        return ""
    rows = []
    for who in ("champion", "challenger"):
        figures = challenger.get(who) or {}
        rows.append(
            [esc(who)]
            + [
                num(f"{who}-{k}", figures.get(k), "money" if k == "net_value" else "psi")
                for k in ("auc", "ece", "net_value")
            ]
        )
    better = "better" if challenger.get("better") else "not better"
    return (
        f"<h3>Challenger {esc(challenger.get('version'))}: "
        f'<span data-testid="challenger-better" data-value="{esc(bool(challenger.get("better")))}">'
        f"{better}</span> on {esc(challenger.get('closed'))} closed leads</h3>"
        + table(["model", "AUC", "ECE", "net value"], rows, "challenger-table")
    )


def _checks(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return ""
    rows = [
        [
            esc(c.get("check")),
            f'<span class="status {esc(c.get("status"))}" '
            f'data-testid="check-{esc(c.get("check"))}" '
            f'data-value="{esc(c.get("status"))}">{esc(c.get("status"))}</span>',
            num(f"check-{c.get('check')}-value", c.get("value"), "psi"),
            num(f"check-{c.get('check')}-limit", c.get("limit"), "psi"),
            esc(c.get("why")),
        ]
        for c in checks
    ]
    return "<h3>Checks of the latest run</h3>" + table(
        ["check", "status", "value", "limit", "why"], rows, "checks-table"
    )


# ---------------------------------------------------------------- funnel and SLA

FUNNEL_STAGES = (("leads", "leads"), ("mql", "MQL"), ("sal", "SAL"), ("sql", "SQL"), ("won", "won"))
FUNNEL_FIGURES = (
    ("lead_to_mql", "lead to MQL", "share"),
    ("mql_to_sql", "MQL to SQL", "share"),
    ("sql_to_win", "SQL to win", "share"),
    ("win_rate", "win rate (closed)", "share"),
    ("cycle_days_median", "sales cycle, median", "days"),
    ("marketing_revenue", "marketing-sourced revenue", "money"),
    ("won_revenue", "won revenue", "money"),
    ("cost_per_sql", "spend per SQL", "money"),
    ("sales_cost_per_sql", "SDR + AE cost per SQL", "money"),
    ("first_touch_within_sla", "first touch within SLA", "share"),
    ("first_touch_median_hours", "first touch, median business h", "hours"),
)


def funnel_section(
    funnel: dict[str, Any] | None, sla: list[dict[str, Any]] | None, why: dict[str, str]
) -> str:
    body = ""
    if funnel is None:
        body += empty("funnel", why.get("funnel", "no funnel report"))
    else:
        total = funnel["total"]
        items = [
            Bar(
                label,
                total.get(key),
                f"{label}: {fmt(total.get(key), 'count')}",
                f"funnel-bar-{key}",
                css="bar funnel",
            )
            for key, label in FUNNEL_STAGES
        ]
        counts = tiles(
            [(label, num(f"funnel-{key}", total.get(key), "count")) for key, label in FUNNEL_STAGES]
        )
        rates = tiles(
            [
                (label, num(f"funnel-{key}", total.get(key), kind))
                for key, label, kind in FUNNEL_FIGURES
            ]
        )
        chart = bars(
            "Funnel: leads reaching each stage", items, lambda v: fmt(v, "count"), "funnel-chart"
        )
        body += (
            f'<p class="facts">As of {text("funnel-as-of", funnel.get("as_of"))} UTC, every lead '
            "of the lead database (<code>leadscore report funnel</code>: the same numbers).</p>"
            + counts
            + chart
            + rates
        )
        notes = funnel.get("notes") or []
        if notes:
            body += '<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"
    body += "<h3>Handoff SLA</h3>"
    if sla is None:
        body += empty("sla", why.get("sla", "no SLA numbers"))
    else:
        rows = [
            [
                esc(r.get("rule")),
                esc(f"{r.get('owner')} ({r.get('team')})"),
                esc(r.get("stage")),
                *(
                    num(f"sla-{r.get('rule')}-{k}", r.get(k), "count")
                    for k in ("met", "breached", "open", "overdue", "clocks")
                ),
                num(f"sla-{r.get('rule')}-breach_rate", r.get("breach_rate"), "share"),
            ]
            for r in sla
        ]
        body += (
            table(
                ["rule", "owner", "stage", "met", "breached", "open", "overdue", "clocks", "late"],
                rows,
                "sla-table",
            )
            + '<p class="note">Same numbers as <code>leadscore sla --format json</code> (summary); '
            "late: share of the stopped or overdue clocks that were late.</p>"
        )
    lead = "The numbers marketing and sales are both judged on, from the lead database."
    return section("funnel", "Funnel and SLA", body, lead)
