"""The threshold study as the model card stores it: the chosen cut-offs, the Pareto front, the
weekly load against capacity, what each cut-off means in money, and the what-if grid (policies
evaluated on the replay with their cost-free figures, `scoring.monitoring.whatif`)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from scoring.monitoring.whatif import GRID_COLUMNS
from training.thresholds.replay import Outcome, Policy, Replay
from training.thresholds.study import MAX_MIN_FIT, TuneResult, search_range

GRID_POINTS = 16  # cut-offs of the log grid: 16 x 16 / 2 (sql >= mql) x 5 minimum fit scores
GRID_MIN_FITS = (0.0, 20.0, 40.0, 60.0, float(MAX_MIN_FIT))


def grid_policies(tuning: TuneResult, replay: Replay) -> list[Policy]:
    """The study's chosen policy first, then its trials, then a log grid of MQL x SQL (>= MQL) x
    minimum fit score over the study's search range; each policy once."""
    lo, hi = search_range(replay)
    cuts = np.geomspace(lo, hi, GRID_POINTS)
    fits = GRID_MIN_FITS if replay.has_fit else (0.0,)
    grid = [Policy(float(m), float(s), f) for m in cuts for s in cuts[cuts >= m] for f in fits]
    seen: set[Policy] = set()
    policies = []
    for policy in [tuning.policy, *(t.policy for t in tuning.trials), *grid]:
        if policy not in seen:
            seen.add(policy)
            policies.append(policy)
    return policies


def grid_row(policy: Policy, outcome: Outcome) -> list[float]:
    """A row of `GRID_COLUMNS`: the cut-offs and the figures that no cost or capacity changes."""
    return [
        policy.mql,
        policy.sql,
        policy.min_fit,
        outcome.revenue,
        float(outcome.mqls),
        outcome.ae_load,
    ]


def whatif_grid(tuning: TuneResult, replay: Replay) -> dict:
    """Every policy of `grid_policies` evaluated on the replay (milliseconds each)."""
    rows = [grid_row(p, replay.evaluate(p)) for p in grid_policies(tuning, replay)]
    return {"columns": list(GRID_COLUMNS), "rows": rows, "per_week": replay.per_week}


def _lane(outcome: Outcome, sdr: bool) -> dict:
    """Handoffs of one lane (through an SDR, or straight to an AE) and their net value."""
    frame = outcome.handoffs
    lane = frame[(frame["sdr_load"] > 0) == sdr]
    return {"handoffs": len(lane), "net_value": float(lane["net_value"].sum())}


def cutoff_money(tuning: TuneResult, replay: Replay) -> list[dict]:
    """What each chosen cut-off means in money: the expected revenue it asks of a lead, what
    that handoff costs the team, and what its lane brings on the held-out leads (net of the
    SDR and AE time), over the replayed leads and a week; then what the leads left in nurture
    bring, so the rows' net values add up to the policy's."""
    costs, p, out = replay.costs, tuning.policy, tuning.outcome
    per_week = replay.per_week
    sdr, ae = _lane(out, True), _lane(out, False)
    nurtured = out.nurture_value
    weekly = (lambda v: v * per_week) if per_week is not None else (lambda v: None)
    rows = [
        {
            "cutoff": "mql",
            "value": p.mql,
            "meaning": "expected revenue at which a lead goes to an SDR for review",
            "handoff_cost": costs.sdr_cost_per_mql,
            "handoffs": sdr["handoffs"],
            "net_value": sdr["net_value"],
            "handoffs_per_week": weekly(sdr["handoffs"]),
            "net_value_per_week": weekly(sdr["net_value"]),
        },
        {
            "cutoff": "sql",
            "value": p.sql,
            "meaning": "expected revenue at which a lead goes straight to an AE",
            "handoff_cost": costs.ae_cost_per_sql,
            "handoffs": ae["handoffs"],
            "net_value": ae["net_value"],
            "handoffs_per_week": weekly(ae["handoffs"]),
            "net_value_per_week": weekly(ae["net_value"]),
        },
        {
            "cutoff": "nurture",
            "value": costs.nurture_value_share,
            "meaning": "share of its revenue a lead handed to no one brings on its own",
            "handoff_cost": None,
            "handoffs": None,
            "net_value": nurtured,
            "handoffs_per_week": None,
            "net_value_per_week": weekly(nurtured),
        },
    ]
    if tuning.tunes_min_fit:
        rows.append(
            {
                "cutoff": "min_fit",
                "value": p.min_fit,
                "meaning": "fit score below which no lead is handed off, whatever it is worth",
                "handoff_cost": None,
                "handoffs": None,
                "net_value": None,
                "handoffs_per_week": None,
                "net_value_per_week": None,
            }
        )
    return rows


def threshold_card(tuning: TuneResult, replay: Replay) -> dict:
    """The card's `thresholds` section (JSON-ready)."""
    out, load = tuning.outcome, tuning.load
    return {
        "study": tuning.study_name,
        "objective": tuning.objective,
        "replay": tuning.mode,
        "trials": len(tuning.trials),
        "unit": tuning.unit,
        "tunes_min_fit": tuning.tunes_min_fit,
        "degenerate": tuning.degenerate,
        "chosen": asdict(tuning.policy),
        "outcome": {
            "net_value": out.net_value,
            "revenue": out.revenue,
            "sdr_cost": out.sdr_cost,
            "ae_cost": out.ae_cost,
            "mqls": out.mqls,
            "sqls": out.sqls,
            "ae_load": out.ae_load,
        },
        "load": (
            {"sdr_per_week": load.sdr_per_week, "ae_per_week": load.ae_per_week}
            if load.known
            else None
        ),
        "replayed_leads": len(replay.revenue),
        "per_week": replay.per_week,
        "costs": replay.costs.model_dump(mode="json"),
        "speed_to_lead": asdict(tuning.speed) if tuning.speed else None,
        "pareto": [
            asdict(t.policy) | {"net_value": t.net_value, "workload": t.workload}
            for t in tuning.pareto
        ],
        "money": cutoff_money(tuning, replay),
        "grid": whatif_grid(tuning, replay),
    }
