"""Money in the data's own units: a source without amounts counts expected revenue in won deals
(or in `leads.deal_value`'s currency), its costs must be shares of a won deal, and amounts print
with the precision they need."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from scoring.config import Config, ConfigError
from tests.conftest import TINY_CONFIG
from training.thresholds.replay import realised_revenue
from training.thresholds.units import (
    WON_DEALS,
    check_cost_units,
    format_amount,
    value_unit,
    won_deal_value,
)


def _config(leads: dict | None = None, costs: dict | None = None) -> Config:
    doc = yaml.safe_load(TINY_CONFIG)
    doc["leads"] |= leads or {}
    doc["leads"] = {k: v for k, v in doc["leads"].items() if v is not None}
    if costs:
        doc["costs"] = costs
    return Config.model_validate(doc)


NO_AMOUNTS = {"revenue": None}  # the tiny source has no opportunity amount either


def test_default_dollar_costs_are_refused_against_won_deals() -> None:
    # given a source with no amounts and no deal value, and the default costs (40 and 400)
    cfg = _config(NO_AMOUNTS)
    assert value_unit(cfg) == WON_DEALS and won_deal_value(cfg) == 1.0
    # then the study refuses, in one line naming the keys to set and the way out
    with pytest.raises(ConfigError) as refused:
        check_cost_units(cfg)
    message = str(refused.value)
    assert "\n" not in message
    assert "costs.sdr_cost_per_mql is 40 and costs.ae_cost_per_sql is 400" in message
    assert "shares of a won deal" in message and "leads.deal_value" in message


def test_one_cost_at_a_whole_deal_is_named_alone() -> None:
    cfg = _config(NO_AMOUNTS, {"sdr_cost_per_mql": 0.01, "ae_cost_per_sql": 2.0})
    with pytest.raises(ConfigError, match=r"^costs\.ae_cost_per_sql is 2, but") as refused:
        check_cost_units(cfg)
    assert "costs.sdr_cost_per_mql is" not in str(refused.value)


def test_costs_in_the_data_units_are_accepted() -> None:
    # shares of a won deal, for a source counted in won deals
    shares = _config(NO_AMOUNTS, {"sdr_cost_per_mql": 0.005, "ae_cost_per_sql": 0.05})
    check_cost_units(shares)
    # money, once a won deal has a value in money, or the source has amounts
    priced = _config(NO_AMOUNTS | {"deal_value": 5_000.0})
    check_cost_units(priced)
    assert value_unit(priced) == "" and won_deal_value(priced) == 5_000.0
    with_amounts = _config()
    check_cost_units(with_amounts)
    assert value_unit(with_amounts) == "" and won_deal_value(with_amounts) is None
    opportunity_only = _config({"revenue": None, "opportunity_amount": "amount"})
    assert value_unit(opportunity_only) == "" and won_deal_value(opportunity_only) is None


def test_realised_revenue_counts_a_win_as_a_deal_without_amounts() -> None:
    meta = pd.DataFrame({"label": [1.0, 0.0, 1.0], "revenue": [np.nan, np.nan, 300.0]})
    # won deals: 1 a win (the replay's nurture value is then a share of a won deal, not 0)
    assert realised_revenue(_config(NO_AMOUNTS), meta).tolist() == [1.0, 0.0, 1.0]
    assert realised_revenue(_config(NO_AMOUNTS | {"deal_value": 80.0}), meta).tolist() == [
        80.0,
        0.0,
        80.0,
    ]
    # amounts: the revenue column (a win without one brings 0, as before)
    assert realised_revenue(_config(), meta).tolist() == [0.0, 0.0, 300.0]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1_913_340.4, "1,913,340"),
        (1_234.0, "1,234"),
        (525.0, "525"),
        (99.5, "99.5"),
        (12.345, "12.3"),
        (1.0, "1"),
        (0.5, "0.5"),
        (0.031234, "0.0312"),
        (0.000123456, "0.000123"),
        (0.0, "0"),
        (-0.0, "0"),
        (-0.0456, "-0.0456"),
        (float("inf"), "inf"),
    ],
)
def test_amounts_print_with_the_precision_they_need(value: float, text: str) -> None:
    assert format_amount(value) == text


def test_cost_units_are_described() -> None:
    from scoring.config import CostModel

    fields = CostModel.model_fields
    for key in ("sdr_cost_per_mql", "ae_cost_per_sql"):
        assert "share of a won deal" in (fields[key].description or "")
    assert "leads.created_at" in (fields["leads_per_week"].description or "")
