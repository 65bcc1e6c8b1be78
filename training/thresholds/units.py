"""The unit a threshold study counts money in: the unit of expected revenue.

With deal amounts (`leads.revenue` or `leads.opportunity_amount`) that is their currency; without
them, expected revenue is the win probability x `leads.deal_value`, so its currency; with neither
it is the win probability itself, i.e. won deals, and the costs (`costs:`) must be shares of a won
deal. The default costs are dollars: priced against deals worth 1, no handoff ever pays, and the
study would quietly tune "hand off nobody". It refuses instead.
"""

from __future__ import annotations

import math

from scoring.config import Config, ConfigError

WON_DEALS = "won deals"


def has_amounts(cfg: Config) -> bool:
    return cfg.leads.revenue is not None or cfg.leads.opportunity_amount is not None


def value_unit(cfg: Config) -> str:
    """How amounts are written after a number: "" for money, "won deals" when expected revenue
    is the win probability (no amounts, no `leads.deal_value`)."""
    return WON_DEALS if not has_amounts(cfg) and cfg.leads.deal_value is None else ""


def won_deal_value(cfg: Config) -> float | None:
    """What a won lead brought when the source records no amounts (`leads.deal_value`, else one
    won deal); None when it does (then the revenue column says)."""
    if has_amounts(cfg):
        return None
    return cfg.leads.deal_value if cfg.leads.deal_value is not None else 1.0


def check_cost_units(cfg: Config) -> None:
    """Refuse costs that cannot be in the data's units: a cost of a whole won deal or more per
    handoff when expected revenue is counted in won deals (the dollar defaults, typically)."""
    if value_unit(cfg) != WON_DEALS:
        return
    costs = cfg.costs
    money = {"sdr_cost_per_mql": costs.sdr_cost_per_mql, "ae_cost_per_sql": costs.ae_cost_per_sql}
    too_big = {key: value for key, value in money.items() if value >= 1.0}
    if not too_big:
        return
    named = " and ".join(f"costs.{key} is {value:g}" for key, value in too_big.items())
    raise ConfigError(
        f"{named}, but this source has no deal amounts (leads.revenue, leads.opportunity_amount) "
        "and no leads.deal_value, so expected revenue is counted in won deals (1 = one won deal): "
        "set costs.sdr_cost_per_mql and costs.ae_cost_per_sql as shares of a won deal (e.g. "
        "0.005 and 0.05), or leads.deal_value to a won deal's value in your currency"
    )


SIGNIFICANT = 3  # digits an amount below 100 keeps: 0.0312 won deals, 12.5, 0.5


def format_amount(value: float) -> str:
    """An amount with the precision it needs: whole units with thousands separators from 100
    up (1,234), three significant digits below (0.0312, 12.5): cut-offs in won deals are
    fractions, and whole units would print them all as 0."""
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 100:
        return f"{value:,.0f}"
    decimals = SIGNIFICANT - 1 - math.floor(math.log10(size))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
