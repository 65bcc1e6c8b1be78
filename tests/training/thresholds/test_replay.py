"""The replay evaluator: moments, first crossings, the value and cost arithmetic, the history's
readiness and speed, and scores along a timeline equal to scoring the lead at that moment
directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.config import CostModel
from scoring.data.load import load_events, load_leads
from scoring.data.validation import Leads
from scoring.features import build_features
from training.pipeline.run import TrainResult
from training.thresholds.outcome import fit_outcome_model
from training.thresholds.replay import (
    Policy,
    contact_delays,
    evaluate_policy,
    log2_kept,
    outcome_value,
    ready_moments,
    speed_credit,
)
from training.thresholds.timeline import (
    Timeline,
    build_timeline,
    first_moment,
    moments,
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
    # lead 0 (ready on day 10) crosses 3k expected revenue on day 10 and 9k on day 12; lead 1
    # (never ready) crosses 3k on day 2; lead 2 never crosses. `value` is what the outcome model
    # says a handoff at that moment is worth.
    return Timeline(
        lead_ids=pd.Index(["won", "lost", "cold"]),
        lead=np.array([0, 0, 0, 1, 1, 2]),
        at=np.array([5.0, 10.0, 12.0, 1.0, 2.0, 3.0]),
        p=np.array([0.1, 0.3, 0.95, 0.1, 0.35, 0.05]),
        fit=np.array([80.0, 80.0, 80.0, 20.0, 20.0, 50.0]),
        revenue=np.array([1e3, 3e3, 9.5e3, 1e3, 3.5e3, 5e2]),
        value=np.array([500.0, 8_000.0, 9_000.0, 100.0, 300.0, 50.0]),
    )


READY = np.array([10.0, np.nan, np.nan])


def test_first_moment() -> None:
    tl = _timeline()
    assert first_moment(tl, tl.p >= 0.3).tolist() == [1, 4, -1]


def test_kept_share_halves_after_ready_and_penalises_early_calls() -> None:
    costs = CostModel()  # half-life 24 h, premature penalty 0.5
    log2 = log2_kept(costs, np.array([9.0, 10.0, 11.0, 5.0]), np.array([10.0, 10, 10, np.nan]))
    assert np.exp2(log2).tolist() == pytest.approx([0.5, 1.0, 0.5, 0.5])


def test_speed_credit_stays_finite_under_tiny_half_lives() -> None:
    # given a 30-minute half-life and a history that called 30 and 60 days after the handoff
    costs = CostModel(ready_half_life_hours=0.5, premature_penalty=1.0)
    at, ready, delays = np.array([10.0, 10.0]), np.array([10.0, np.nan]), np.array([30.0, 60.0])
    credit = speed_credit(costs, at, np.array([10 + 4 / 24, 10.2]), ready, delays)
    # then a call 4 h after the ask keeps 2^-8 over the history's 2^-1440: credited up to the cap
    # (not inf, not NaN); a lead never ready, which neither call keeps anything of, is left as
    # the history made it
    assert credit.tolist() == pytest.approx([costs.max_timing_credit, 1.0])


def test_history_timing_sets_the_speed_credit() -> None:
    # given a history that called every lead exactly one half-life (a day) after the handoff
    costs, tl = CostModel(), _timeline()
    value = outcome_value(tl, costs, READY, delays=np.array([1.0]))
    # when the policy hands the ready lead off on day 10 and calls it 4 h later
    worth, not_ready = value(np.array([1, 4, -1]), np.array([10 + 4 / 24, 2 + 4 / 24, np.inf]))
    # then it earns the outcome model's 8k, times 2^(-4/24) kept now over the 1/2 the history
    # kept; the never-ready lead is called early by both, so it earns what history did
    assert worth.tolist() == pytest.approx([8_000 * 2 ** (-4 / 24) / 0.5, 300.0, 0.0])
    assert not_ready.tolist() == [False, True, True]


def test_policy_value_and_costs() -> None:
    costs, tl = CostModel(), _timeline()
    value = outcome_value(tl, costs, READY, delays=np.empty(0))  # no history timing: as is
    never = np.array([1_000.0, 0.0, 0.0])
    out = evaluate_policy(tl, costs, Policy(mql=3_000, sql=9_000), value, never)
    # won: SDR lane on day 10 (worth 8k); lost: SDR lane on day 2, not ready, so the SDR passes
    # it on with probability 1 - 0.6
    assert out.revenue == pytest.approx(8_000 + 300)
    assert out.sdr_cost == 2 * 40 and out.ae_cost == pytest.approx(400 + 0.4 * 400)
    assert out.net_value == pytest.approx(8_300 - 80 - 560)
    assert (out.mqls, out.sqls) == (2, 0)
    # a minimum fit score of 50 keeps the lost lead (fit 20) in nurture
    fit_gate = evaluate_policy(tl, costs, Policy(3_000, 9_000, min_fit=50), value, never)
    assert fit_gate.mqls == 1 and fit_gate.sdr_cost == 40
    # an SQL cut-off of 3k sends both straight to an AE: no SDR, every AE call paid
    direct = evaluate_policy(tl, costs, Policy(3_000, 3_000), value, never)
    assert direct.sqls == 2 and direct.ae_cost == 800 and direct.sdr_cost == 0
    # nobody handed off: only nurture value, no cost
    idle = evaluate_policy(tl, costs, Policy(99_000, 99_000), value, never)
    assert idle.net_value == pytest.approx(1_000) and idle.weekly.empty


def test_ready_is_the_first_ask_or_handoff(trained: TrainResult) -> None:
    cfg = trained.config
    meta = pd.DataFrame(
        {
            "label": [1.0, 0.0, 0.0],
            "created_at": pd.to_datetime(["1970-01-01"] * 3),
            "mql_at": pd.to_datetime(["1970-01-05", "1970-01-03", None]),
            "sal_at": pd.NaT,
            "sql_at": pd.NaT,
        },
        index=pd.Index(["asked", "handed", "never"], name="lead_id"),
    )
    events = pd.DataFrame(
        {
            "lead_id": ["asked", "handed", "never"],
            "event_type": ["demo_request", "demo_request", "pricing_page"],
            "occurred_at": pd.to_datetime(["1970-01-02", "1970-01-09", "1970-01-02"]),
        }
    )
    ready = ready_moments(cfg, Leads(meta, meta[[]]), events)
    # a demo request before the handoff; a handoff before the demo request; a pricing-page
    # visit is research, not a request (demo.yaml: events.ready)
    assert ready[:2].tolist() == [1.0, 2.0] and np.isnan(ready[2])
    # and the outcome never makes a lead ready: a win with no ask and no handoff stays unknown
    won = meta.assign(label=[1.0, 1.0, 1.0])
    assert np.isnan(ready_moments(cfg, Leads(won, won[[]]), events)[2])


def test_a_lead_without_a_creation_date_has_no_moments() -> None:
    events = pd.DataFrame({"lead_id": ["b"], "event_type": ["x"], "occurred_at": [pd.NaT]})
    lead, at = moments(
        np.array([0.0, np.nan]), np.array([1.0, np.nan]), events, pd.Index(["a", "b"]), 1.0
    )
    assert lead.tolist() == [0, 0] and at.tolist() == [0.0, 1.0]


def test_history_delays_are_handoff_to_contact(trained: TrainResult) -> None:
    cfg = trained.config
    meta = pd.DataFrame(
        {
            "mql_at": pd.to_datetime(["1970-01-01", "1970-01-01", "1970-01-01"]),
            "sal_at": pd.to_datetime(["1970-01-02", "1970-01-04", None]),
        }
    )
    delays = contact_delays(cfg, meta)
    assert delays.min() >= 1.0 and delays.max() <= 3.0 and np.median(delays) == 2.0


def test_timeline_scores_equal_scoring_at_that_moment(trained: TrainResult) -> None:
    """Every moment of five leads, in chunks of two leads: the same bits as scoring the lead on
    its own at that moment, for the model and the outcome model (the timeline builds features
    once and predicts a booster whose inputs did not move once per lead)."""
    cfg, scorer = trained.config, trained.scorer
    engine = sa.create_engine(cfg.source.database)
    leads, _ = load_leads(cfg, engine)
    ids = trained.data.part("test").label.index[:5]
    events, _ = load_events(cfg, engine, list(ids))
    subset = Leads(leads.meta.loc[ids], leads.inputs.loc[ids])
    outcome = fit_outcome_model(cfg, trained.data, leads.meta)
    assert outcome is not None
    tl = build_timeline(cfg, scorer, subset, events, horizon_days=20, chunk=2, outcome=outcome)
    bare = build_timeline(cfg, scorer, subset, events, horizon_days=20)
    assert np.array_equal(bare.value, bare.revenue)  # no outcome model: the model values handoffs
    assert np.array_equal(bare.p, tl.p) and np.array_equal(bare.at, tl.at)
    # moments taken exactly at events are among them (scored with the event counted)
    at_events = set(zip(events["lead_id"], events["occurred_at"], strict=True))
    stamps = to_timestamps(tl.at)
    assert sum((tl.lead_ids[i], t) in at_events for i, t in zip(tl.lead, stamps, strict=True)) > 5
    assert len(np.unique(tl.lead)) == 5 and len(tl.at) > 5 * 20
    for k, (i, as_of) in enumerate(zip(tl.lead, stamps, strict=True)):
        features = build_features(cfg, subset.inputs.iloc[[i]], events, as_of)
        direct = scorer.score(features)
        assert tl.p[k] == direct["win_probability"].iloc[0], k
        assert np.array_equal(tl.fit[k], direct["fit_score"].iloc[0], equal_nan=True), k
        assert tl.revenue[k] == direct["expected_revenue"].iloc[0], k
        assert tl.value[k] == outcome.value(features, direct["expected_revenue"].to_numpy())[0], k
