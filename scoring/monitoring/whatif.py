"""The what-if of the threshold study: which stored policy a team would choose under other costs
and capacity, without replaying anything.

The model card (`card.json`, written at training) stores a grid of policies evaluated on the
held-out replay, each with the parts of its outcome that do not depend on the SDR and AE costs
or on capacity: `revenue` (what the handed-off and nurtured leads bring), `mqls` (SDR reviews)
and `ae_load` (SQLs the AEs work), plus the replay's `per_week` (weekly handoffs per replayed
handoff; None when the data says nothing of the flow). Then, exactly as the replay counts them:

    net value       = revenue - mqls * sdr_cost_per_mql - ae_load * ae_cost_per_sql
    weekly SDR load = mqls * per_week,   weekly AE load = ae_load * per_week

and a policy fits when each load <= capacity * (1 - headroom) (`CostModel.within_capacity`).
`choose` picks the best policy that fits; the report page's script (page/assets/report.js,
`choose`) is the same algorithm in the browser, and the tests hold the two to the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GRID_COLUMNS = ("mql", "sql", "min_fit", "revenue", "mqls", "ae_load")


@dataclass(frozen=True)
class Costs:
    """What the what-if lets a reader change: the cost of a handoff and each team's capacity."""

    sdr_cost_per_mql: float
    ae_cost_per_sql: float
    sdr_capacity_per_week: float
    ae_capacity_per_week: float
    capacity_headroom: float

    @classmethod
    def of(cls, costs: Mapping[str, Any]) -> Costs:
        """From a cost model's dump (`CostModel.model_dump()`, the card's `costs`)."""
        return cls(*(float(costs[name]) for name in cls.__dataclass_fields__))


@dataclass(frozen=True)
class Choice:
    """The policy chosen from the grid (`row`: its position) and what it gives."""

    row: int
    mql: float
    sql: float
    min_fit: float
    net_value: float
    revenue: float
    mqls: float
    ae_load: float
    sdr_per_week: float | None  # None: no weekly flow known, capacity not applied
    ae_per_week: float | None
    feasible_policies: int


def net_value(row: Sequence[float], costs: Costs) -> float:
    """The replay's net value of one grid row under `costs` (same operation order as the page)."""
    revenue, mqls, ae_load = row[3], row[4], row[5]
    return revenue - mqls * costs.sdr_cost_per_mql - ae_load * costs.ae_cost_per_sql


def fits(row: Sequence[float], costs: Costs, per_week: float | None) -> bool:
    """Whether the row's weekly load fits both teams, headroom kept free (any load does when
    the weekly flow is unknown): `CostModel.within_capacity`."""
    if per_week is None:
        return True
    planned = 1.0 - costs.capacity_headroom
    sdr_excess = row[4] * per_week - costs.sdr_capacity_per_week * planned
    ae_excess = row[5] * per_week - costs.ae_capacity_per_week * planned
    return max(sdr_excess, ae_excess) <= 0


def choose(grid: Mapping[str, Any], costs: Costs) -> Choice | None:
    """The best policy of the card's `grid` ({"columns": GRID_COLUMNS, "rows": [...],
    "per_week": float | None}) that fits the teams under `costs`: the highest net value, the
    first such row on a tie. None when no row fits (the grid always holds the policy that hands
    off nobody, which fits any capacity, so only an empty grid gives None)."""
    if tuple(grid["columns"]) != GRID_COLUMNS:
        raise ValueError(f"what-if grid columns {grid['columns']} are not {list(GRID_COLUMNS)}")
    per_week = grid.get("per_week")
    best, best_value, feasible = -1, -math.inf, 0
    for i, row in enumerate(grid["rows"]):
        if not fits(row, costs, per_week):
            continue
        feasible += 1
        value = net_value(row, costs)
        if value > best_value:
            best, best_value = i, value
    if best < 0:
        return None
    row = grid["rows"][best]
    return Choice(
        row=best,
        mql=row[0],
        sql=row[1],
        min_fit=row[2],
        net_value=best_value,
        revenue=row[3],
        mqls=row[4],
        ae_load=row[5],
        sdr_per_week=None if per_week is None else row[4] * per_week,
        ae_per_week=None if per_week is None else row[5] * per_week,
        feasible_policies=feasible,
    )
