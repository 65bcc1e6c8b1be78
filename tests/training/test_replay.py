"""The replay evaluator: moments, first crossings, the value and cost arithmetic, and scores
along a timeline equal to scoring the lead at that moment directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.config import CostModel
from scoring.features import build_features
from scoring.validation import Leads
from training.pipeline import TrainResult
from training.replay import (
    Policy,
    Timeline,
    build_timeline,
    evaluate_policy,
    first_crossing,
    moments,
    realised_value,
    to_timestamps,
)


def test_moments_are_daily_plus_events_inside_the_window() -> None:
    ids = pd.Index(["a", "b"])
    events = pd.DataFrame(
        {
            "lead_id": ["a", "a", "b", "zz"],
            "event_type": ["x"] * 4,
            "occurred_at": pd.to_datetime(
                ["1970-01-02 12:00", "1970-01-09 00:00", "1970-01-01 00:00", "1970-01-01 00:00"]
            ),
        }
    )
    lead, at = moments(np.array([0.0, 1.0]), np.array([2.0, 1.5]), events, ids, 1.0)
    # a: days 0, 1, 1.5 (event), 2; its day-8 event is past its end; b: day 1 only (its event at
    # day 0 is before it was created); the unknown lead's event is ignored
    assert lead.tolist() == [0, 0, 0, 0, 1]
    assert at.tolist() == [0.0, 1.0, 1.5, 2.0, 1.0]


def _timeline() -> Timeline:
    # lead 0 (won 10k, ready on day 10) crosses 3k expected revenue on day 10 and 9k on day 12;
    # lead 1 (lost) crosses 3k on day 2; lead 2 never crosses
    return Timeline(
        lead_ids=pd.Index(["won", "lost", "cold"]),
        lead=np.array([0, 0, 0, 1, 1, 2]),
        at=np.array([5.0, 10.0, 12.0, 1.0, 2.0, 3.0]),
        p=np.array([0.1, 0.3, 0.95, 0.1, 0.35, 0.05]),
        fit=np.array([80.0, 80.0, 80.0, 20.0, 20.0, 50.0]),
        revenue=np.array([1e3, 3e3, 9.5e3, 1e3, 3.5e3, 5e2]),
    )


def test_first_crossing() -> None:
    tl = _timeline()
    assert first_crossing(tl, tl.p >= 0.3).tolist()[:2] == [10.0, 2.0]
    assert np.isnan(first_crossing(tl, tl.p >= 0.3)[2])


def test_policy_value_and_costs() -> None:
    costs = CostModel()
    revenue, ready = np.array([10_000.0, 0.0, 0.0]), np.array([10.0, np.nan, np.nan])
    value = realised_value(costs, revenue, ready)
    never = revenue * costs.nurture_value_share
    out = evaluate_policy(_timeline(), costs, Policy(mql=3_000, sql=9_000), value, never)
    # won: SDR lane on day 10, called 4 h later: 10k x 2^(-4/24); lost: SDR lane, not ready, so
    # the SDR passes it on with probability 1 - 0.6
    won_value = 10_000 * 2 ** (-4 / 24)
    assert out.revenue == pytest.approx(won_value)
    assert out.sdr_cost == 2 * 40 and out.ae_cost == pytest.approx(400 + 0.4 * 400)
    assert out.net_value == pytest.approx(won_value - 80 - 560)
    assert (out.mqls, out.sqls) == (2, 0)
    # a minimum fit score of 50 keeps the lost lead (fit 20) in nurture
    fit_gate = evaluate_policy(_timeline(), costs, Policy(3_000, 9_000, min_fit=50), value, never)
    assert fit_gate.mqls == 1 and fit_gate.sdr_cost == 40
    # an SQL cut-off of 3k sends the won lead straight to an AE, called after 1 h
    direct = evaluate_policy(_timeline(), costs, Policy(3_000, 3_000), value, never)
    assert direct.sqls == 2 and direct.revenue == pytest.approx(10_000 * 2 ** (-1 / 24))
    # nobody handed off: only nurture value, no cost
    idle = evaluate_policy(_timeline(), costs, Policy(99_000, 99_000), value, never)
    assert idle.net_value == pytest.approx(1_000) and idle.weekly.empty


def test_premature_contact_is_penalised() -> None:
    costs = CostModel()
    value = realised_value(costs, np.array([10_000.0]), np.array([20.0]))
    worth, early = value(np.array([10.0]))
    assert worth[0] == pytest.approx(5_000) and early[0]


def test_timeline_scores_equal_scoring_at_that_moment(trained: TrainResult) -> None:
    cfg, scorer = trained.config, trained.scorer
    import sqlalchemy as sa

    from scoring.data import load_events, load_leads

    engine = sa.create_engine(cfg.source.database)
    leads, _ = load_leads(cfg, engine)
    ids = trained.data.part("test").label.index[:5]
    events, _ = load_events(cfg, engine, list(ids))
    subset = Leads(leads.meta.loc[ids], leads.inputs.loc[ids])
    tl = build_timeline(cfg, scorer, subset, events, horizon_days=20)
    # a daily moment, and moments taken exactly at events (scored with the event counted)
    meta = subset.meta.reindex(events["lead_id"])
    end = (meta["created_at"] + pd.Timedelta(days=20)).clip(upper=meta["closed_at"])
    inside = (events["occurred_at"] >= meta["created_at"].to_numpy()) & (
        events["occurred_at"] <= end.to_numpy()
    )
    ev = events[inside.to_numpy()]
    ev = ev.iloc[[0, len(ev) // 2, len(ev) - 1]]
    checks = [(tl.lead_ids[tl.lead[0]], to_timestamps(tl.at[:1])[0])]
    checks += list(zip(ev["lead_id"], ev["occurred_at"], strict=True))
    for lead_id, as_of in checks:
        k = np.flatnonzero((tl.lead_ids[tl.lead] == lead_id) & (to_timestamps(tl.at) == as_of))
        assert len(k), f"no moment for {lead_id} at {as_of}"
        direct = scorer.score(build_features(cfg, subset.inputs.loc[[lead_id]], events, as_of))
        assert tl.p[k[0]] == pytest.approx(direct["win_probability"].iloc[0], rel=1e-9)
