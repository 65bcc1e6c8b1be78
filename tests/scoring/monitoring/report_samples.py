"""Inputs of the report page for tests: a small model card with a threshold study, and
monitoring runs written to `lead_monitor_runs` in the shape `leadscore monitor` writes them."""

from __future__ import annotations

from datetime import datetime, timedelta
from html.parser import HTMLParser

import sqlalchemy as sa

from scoring.monitoring.runs import store
from scoring.monitoring.whatif import GRID_COLUMNS


class _Marks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-testid" in found:
            self.values[str(found["data-testid"])] = found.get("data-value")


def marks(page: str) -> dict[str, str | None]:
    """A page's data-testid -> data-value (None where the element has no data-value)."""
    parser = _Marks()
    parser.feed(page)
    return parser.values


COSTS = {
    "sdr_cost_per_mql": 40.0,
    "ae_cost_per_sql": 400.0,
    "sdr_capacity_per_week": 250.0,
    "ae_capacity_per_week": 60.0,
    "capacity_headroom": 0.1,
    "leads_per_week": None,
}


def sample_card(thresholds: bool = True) -> dict:
    """A card as training writes it (`training.pipeline.card`), small and hand-made."""
    grid_rows = [
        [5000.0, 5000.0, 0.0, 1_000.0, 0.0, 0.0],
        [800.0, 2400.0, 40.0, 90_000.0, 300.0, 120.0],
        [500.0, 1500.0, 20.0, 150_000.0, 700.0, 260.0],
        [200.0, 200.0, 0.0, 260_000.0, 0.0, 900.0],
    ]
    card = {
        "card_version": 1,
        "source": "demo",
        "registered_model": "lead-scoring",
        "created_at": "2026-12-01T10:00:00Z",
        "data": {
            "leads": 16_000,
            "won": 320,
            "win_rate": 0.02,
            "period": {"first": "2024-01-02", "last": "2025-11-30"},
            "folds": {"test": 3_200, "train": 9_600, "valid": 3_200},
            "test_leads": 3_200,
            "weighting": "revenue",
        },
        "recipe": "fit + intent LightGBM <b>stacked</b>",
        "refit": None,
        "metrics": {
            "combined": {
                "roc_auc": 0.81,
                "roc_auc_ci_low": 0.78,
                "roc_auc_ci_high": 0.84,
                "pr_auc": 0.12,
                "log_loss": 0.08,
                "ece": 0.004,
                "brier": 0.019,
            },
            "naive_bayes": {
                "roc_auc": 0.7,
                "roc_auc_ci_low": 0.66,
                "roc_auc_ci_high": 0.74,
                "pr_auc": 0.06,
                "log_loss": 0.1,
                "ece": 0.01,
                "brier": 0.02,
            },
        },
        "calibration_curve": [
            {"low": 0.0, "high": 0.01, "leads": 1600, "predicted": 0.005, "observed": 0.004},
            {"low": 0.01, "high": 0.2, "leads": 1600, "predicted": 0.035, "observed": 0.037},
        ],
        "top_fields": [
            {"field": "title", "label": "Job title", "model": "fit", "mean_abs_points": 0.61},
            {
                "field": "pricing_page",
                "label": "Pricing page",
                "model": "intent",
                "mean_abs_points": 0.33,
            },
        ],
        "gate": {"passed": True, "message": "beats both baselines"},
        "cutoffs_in_use": {"mql": 500.0, "sql": 1500.0, "min_fit": 20.0, "source": "tuned"},
        "thresholds": None,
    }
    if thresholds:
        card["thresholds"] = {
            "study": "thresholds-x",
            "objective": "net_value",
            "replay": "timeline",
            "trials": 60,
            "unit": "",
            "tunes_min_fit": True,
            "degenerate": None,
            "chosen": {"mql": 500.0, "sql": 1500.0, "min_fit": 20.0},
            "outcome": {
                "net_value": 18_000.0,
                "revenue": 150_000.0,
                "sdr_cost": 28_000.0,
                "ae_cost": 104_000.0,
                "mqls": 700,
                "sqls": 40,
                "ae_load": 260.0,
            },
            "load": {"sdr_per_week": 70.0, "ae_per_week": 26.0},
            "replayed_leads": 3_200,
            "per_week": 0.1,
            "costs": COSTS,
            "speed_to_lead": None,
            "pareto": [
                {
                    "mql": 800.0,
                    "sql": 2400.0,
                    "min_fit": 40.0,
                    "net_value": 30_000.0,
                    "workload": 42.0,
                },
                {
                    "mql": 500.0,
                    "sql": 1500.0,
                    "min_fit": 20.0,
                    "net_value": 18_000.0,
                    "workload": 96.0,
                },
            ],
            "money": [
                {
                    "cutoff": "mql",
                    "value": 500.0,
                    "meaning": "to an SDR",
                    "handoff_cost": 40.0,
                    "handoffs": 700,
                    "net_value": 10_000.0,
                    "handoffs_per_week": 70.0,
                    "net_value_per_week": 1_000.0,
                },
                {
                    "cutoff": "sql",
                    "value": 1500.0,
                    "meaning": "to an AE",
                    "handoff_cost": 400.0,
                    "handoffs": 40,
                    "net_value": 6_000.0,
                    "handoffs_per_week": 4.0,
                    "net_value_per_week": 600.0,
                },
                {
                    "cutoff": "nurture",
                    "value": 0.1,
                    "meaning": "kept by leads handed to no one",
                    "handoff_cost": None,
                    "handoffs": None,
                    "net_value": 2_000.0,
                    "handoffs_per_week": None,
                    "net_value_per_week": 200.0,
                },
            ],
            "grid": {"columns": list(GRID_COLUMNS), "rows": grid_rows, "per_week": 0.1},
        }
    return card


def monitor_result(i: int, verdict: str = "ok") -> dict:
    """The result JSON of one monitoring run (any key may be None)."""
    return {
        "source": "demo",
        "model_version": "lead-scoring v1",
        "as_of": f"2026-{1 + i % 12:02d}-01T00:00:00",
        "since": "2025-12-01T00:00:00",
        "leads": 1000 + 100 * i,
        "closed": 200 + 10 * i,
        "calibration": {
            "ece": 0.01 + 0.005 * i,
            "ece_low": 0.005,
            "ece_high": 0.03 + 0.005 * i,
            "auc": 0.8 - 0.01 * i,
            "auc_low": 0.75,
            "auc_high": 0.85,
            "predicted_rate": 0.02,
            "observed_rate": 0.025,
            "bands": [
                {"low": 0.0, "high": 0.02, "leads": 100, "predicted": 0.01, "observed": 0.012},
                {"low": 0.02, "high": 0.5, "leads": 100, "predicted": 0.06, "observed": 0.05},
            ],
        },
        "drift": {
            "score_psi": 0.05 * (i + 1),
            "features": [
                {
                    "feature": "employees",
                    "group": "fit",
                    "psi": 0.03 * (i + 1),
                    "missing_reference": 0.1,
                    "missing_now": 0.12,
                },
                {
                    "feature": "pricing_page_7d",
                    "group": "intent",
                    "psi": 0.25,
                    "missing_reference": 0.0,
                    "missing_now": 0.0,
                },
                {
                    "feature": "vertical",
                    "group": "fit",
                    "psi": None,
                    "missing_reference": None,
                    "missing_now": None,
                },
            ],
        },
        "load": {
            "weeks": [{"week": "2026-01-05", "mqls": 60, "sqls": 20}],
            "mql_per_week": 61.5 + i,
            "sql_per_week": 21.0,
            "sdr_capacity": 250.0,
            "ae_capacity": 60.0,
            "stage_mix": {"mql": 0.1, "sql": 0.02},
        },
        "challenger": None
        if i < 2
        else {
            "version": "3",
            "closed": 150,
            "champion": {"auc": 0.78, "ece": 0.02, "net_value": 10_000.0},
            "challenger": {"auc": 0.8, "ece": 0.01, "net_value": 12_000.0},
            "better": True,
        },
        "checks": [
            {
                "check": "ece",
                "status": "breach" if verdict != "ok" else "ok",
                "value": 0.01 + 0.005 * i,
                "limit": 0.02,
                "why": "calibration on closed leads",
            },
            {"check": "score_psi", "status": "skipped", "value": None, "limit": 0.2, "why": None},
        ],
        "verdict": verdict,
        "reasons": [] if verdict == "ok" else ["the ECE is above its limit"],
    }


def write_monitor_runs(engine: sa.Engine, results: list[tuple[str, dict]]) -> None:
    """Rows of `lead_monitor_runs` for (source, result) pairs, in order: ids increase, checked
    a week apart."""
    start = datetime(2026, 1, 1, 6, 0)
    for k, (source, result) in enumerate(results):
        store(engine, result | {"source": source}, start + timedelta(days=7 * k))
