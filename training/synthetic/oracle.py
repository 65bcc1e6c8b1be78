"""The synthetic world's ground truth as a replay value model: what a lead is truly worth when
sales first contacts it at a given moment (`ResponseModel`), for the oracle policy and for
scoring tuned thresholds against the truth rather than against history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from training.synthetic.clock import epoch_days
from training.synthetic.truth import ResponseModel
from training.thresholds.replay import ValueFn

TRUTH_TABLE = "synthetic_truth"
_TIMES = ("window_start", "ready_at", "window_end")


def load_truth(engine: sa.Engine, lead_ids: pd.Index) -> pd.DataFrame:
    """The truth rows of these leads, in their order (written by `write_world`)."""
    truth = pd.read_sql_table(TRUTH_TABLE, engine).set_index("lead_id")
    missing = lead_ids.difference(truth.index)
    if len(missing):
        raise ValueError(
            f"{TRUTH_TABLE}: no ground truth for {len(missing)} leads, e.g. {missing[0]}"
        )
    truth = truth.loc[lead_ids]
    for column in _TIMES:
        truth[column] = pd.to_datetime(truth[column])
    return truth


def truth_value(truth: pd.DataFrame, response: ResponseModel | None = None) -> ValueFn:
    """Value of first contact at t (days since the epoch; inf = never), whatever the moment of
    the handoff: the true expected revenue; "not ready" when the lead is out of market or not
    yet at its ready moment."""
    response = response or ResponseModel()
    ready = epoch_days(truth["ready_at"])
    in_market = truth["in_market"].to_numpy(dtype=bool)

    def value(moment: np.ndarray, contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        finite = np.isfinite(contact)
        stamps = pd.to_datetime(np.where(finite, contact, np.nan) * 86_400, unit="s")
        worth = np.where(finite, response.expected_revenue(truth, stamps), 0.0)
        return worth, ~in_market | ~(contact >= ready)

    return value
