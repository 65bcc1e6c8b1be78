"""The what-if's choice: the best stored policy whose weekly load fits, under any costs and
capacity, with the replay's own arithmetic."""

from __future__ import annotations

import pytest

from scoring.config import CostModel
from scoring.monitoring.whatif import GRID_COLUMNS, Costs, choose, fits, net_value

# mql, sql, min_fit, revenue, mqls, ae_load: nobody, a few, more, everybody
ROWS = [
    [900.0, 900.0, 0.0, 1_000.0, 0.0, 0.0],
    [300.0, 600.0, 20.0, 9_000.0, 40.0, 20.0],
    [100.0, 400.0, 0.0, 20_000.0, 120.0, 60.0],
    [10.0, 10.0, 0.0, 40_000.0, 0.0, 300.0],
]
GRID = {"columns": list(GRID_COLUMNS), "rows": ROWS, "per_week": 0.5}
COSTS = Costs(40.0, 100.0, 250.0, 60.0, 0.1)


def test_the_best_policy_that_fits_is_chosen() -> None:
    # given room for 54 AE SQLs a week (60 less 10%): the last row sends 150, the third 30
    choice = choose(GRID, COSTS)
    # then the third row wins: 20,000 - 120 x 40 - 60 x 100 = 9,200 net, loads 60 and 30 a week
    assert choice is not None
    assert (choice.row, choice.mql, choice.sql, choice.min_fit) == (2, 100.0, 400.0, 0.0)
    assert choice.net_value == 20_000.0 - 120 * 40.0 - 60 * 100.0
    assert (choice.sdr_per_week, choice.ae_per_week) == (60.0, 30.0)
    assert choice.feasible_policies == 3


def test_more_capacity_or_cheaper_aes_move_the_choice() -> None:
    roomy = Costs(40.0, 100.0, 250.0, 1_000.0, 0.1)  # 40,000 - 30,000 beats 9,200
    assert choose(GRID, roomy).row == 3  # type: ignore[union-attr]
    pricey = Costs(40.0, 250.0, 250.0, 60.0, 0.1)  # 9,000 - 1,600 - 5,000 beats 20,000 - 19,800
    assert choose(GRID, pricey).row == 1  # type: ignore[union-attr]
    no_headroom = Costs(40.0, 100.0, 250.0, 60.0, 0.0)  # 300 x 0.2 = 60 SQLs: just fits
    assert choose({**GRID, "per_week": 0.2}, no_headroom).row == 3  # type: ignore[union-attr]


def test_without_a_weekly_flow_capacity_does_not_bind() -> None:
    choice = choose({**GRID, "per_week": None}, Costs(40.0, 100.0, 1.0, 1.0, 0.5))
    assert choice is not None and choice.row == 3
    assert choice.sdr_per_week is None and choice.ae_per_week is None


def test_fits_is_the_cost_models_capacity_rule() -> None:
    model = CostModel(sdr_capacity_per_week=100, ae_capacity_per_week=50, capacity_headroom=0.2)
    costs = Costs.of(model.model_dump())
    for mqls in (0.0, 79.0, 80.0, 80.5, 200.0):
        for ae in (0.0, 39.9, 40.0, 41.0):
            row = [1.0, 1.0, 0.0, 0.0, mqls, ae]
            assert fits(row, costs, 1.0) == model.within_capacity(mqls, ae)


def test_ties_keep_the_first_row_and_a_bad_grid_is_refused() -> None:
    twice = {**GRID, "rows": [ROWS[2], ROWS[2]]}
    assert choose(twice, COSTS).row == 0  # type: ignore[union-attr]
    assert choose({**GRID, "rows": []}, COSTS) is None
    assert net_value(ROWS[1], COSTS) == 9_000.0 - 40 * 40.0 - 20 * 100.0
    with pytest.raises(ValueError, match="columns"):
        choose({**GRID, "columns": ["sql", "mql"]}, COSTS)
