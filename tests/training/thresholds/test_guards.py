"""What the threshold study does with the sources real exports are: no creation dates (no weekly
capacity unless `costs.leads_per_week` says the flow), no fit features (no minimum fit score),
costs that make every handoff a loss (a degenerate policy, marked with the reason), and cut-offs
in won deals printed with the digits they need. Replays are hand-made: 400 leads scored once."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from scoring.config import CostModel
from training.thresholds.replay import Replay, _flow
from training.thresholds.report import cutoffs_text, decision_text, tuning_text
from training.thresholds.study import (
    MIN_HANDOFF_SHARE,
    replay_fingerprint,
    starting_design,
    suggest_policy,
    tune,
)
from training.thresholds.timeline import Timeline
from training.thresholds.units import WON_DEALS, format_amount
from training.thresholds.whatif import cutoff_money

LEADS = 400
WEEKS = 10
TRIALS = 60
SHARES = {"sdr_cost_per_mql": 0.005, "ae_cost_per_sql": 0.05}  # of a won deal


def _replay(dated: bool = True, fit: bool = True, **costs: float) -> Replay:
    """A source without amounts: expected revenue is the win probability (won deals), each lead
    is worth its expected revenue when handed off, and a win brings one deal."""
    rng = np.random.default_rng(7)
    p = rng.beta(1.0, 12.0, LEADS)
    created = np.sort(rng.uniform(0, 7 * WEEKS, LEADS)) if dated else np.full(LEADS, np.nan)
    timeline = Timeline(
        lead_ids=pd.Index([f"L{i}" for i in range(LEADS)]),
        lead=np.arange(LEADS),
        at=np.nan_to_num(created),
        p=p,
        fit=rng.uniform(0, 100, LEADS).round(1) if fit else np.full(LEADS, np.nan),
        revenue=p,
        value=p,
    )
    won = (rng.random(LEADS) < p).astype(float)
    weeks, scale = _flow(created, created)
    return Replay(
        timeline,
        CostModel(**(SHARES | costs)),
        won,
        None,
        np.empty(0),
        weeks,
        scale,
        unit=WON_DEALS,
    )


def test_no_creation_dates_means_no_weekly_load() -> None:
    # given an AE team that can work 2 SQLs a week
    tight = {"ae_capacity_per_week": 2.0}
    dated, undated = _replay(**tight), _replay(dated=False, **tight)
    # with dates the 400 leads span 10 weeks and the study keeps to 1.8 SQLs a week
    assert dated.dated and dated.weeks == pytest.approx(WEEKS, rel=0.05)
    planned = tune(dated, TRIALS)
    assert planned.load.known and planned.load.ae_per_week <= 1.8
    assert planned.outcome.ae_load <= 1.8 * dated.weeks
    # without them the held-out leads are not taken for one week of work: the load is unknown,
    # capacity does not constrain the study, and every lead worth its cost is handed off
    assert not undated.dated and undated.per_week is None
    free = tune(undated, TRIALS)
    assert not free.load.known
    assert free.outcome.sqls + free.outcome.mqls > 0.4 * LEADS
    assert all(t.feasible(undated) for t in free.trials)
    assert free.summary()["ae_per_week"] is None


def test_leads_per_week_gives_the_flow_without_dates() -> None:
    # given 40 new leads a week: the 400 replayed leads stand for 10 weeks of them
    replay = _replay(dated=False, ae_capacity_per_week=2.0, leads_per_week=40.0)
    assert replay.per_week == pytest.approx(0.1)
    result = tune(replay, TRIALS)
    # then the AE capacity binds as it does with dates
    assert result.load.known and result.load.ae_per_week <= 1.8
    assert result.outcome.ae_load <= 18
    assert "flow from costs.leads_per_week" in tuning_text(result, replay)
    # and a flow from the config is a new study, not the resumed one of the unknown flow
    no_flow = _replay(dated=False, ae_capacity_per_week=2.0)
    assert replay_fingerprint(replay) != replay_fingerprint(no_flow)


def test_pareto_without_dates_counts_work_over_the_replayed_leads() -> None:
    result = tune(_replay(dated=False), TRIALS, pareto=True)
    workloads = [t.workload for t in result.pareto]
    assert len(workloads) >= 2 and all(np.isfinite(workloads))
    assert workloads == sorted(workloads)
    nobody = result.trials[0]  # the starting design's first trial hands off nobody
    assert nobody.workload == 0.0 and not result.load.known


def test_dollar_costs_on_won_deals_are_a_degenerate_policy() -> None:
    # given the default costs (dollars) against deals counted as 1
    replay = _replay(sdr_cost_per_mql=40.0, ae_cost_per_sql=400.0)
    result = tune(replay, TRIALS)
    # then the study hands off nobody, and says so with the reason instead of passing it off
    # as a policy
    assert result.outcome.mqls + result.outcome.sqls == 0
    reason = result.degenerate
    assert reason is not None
    assert "hands off 0 of 400 held-out leads" in reason
    assert "costs are above what a handoff is worth" in reason
    assert "the cheapest handoff costs 200 won deals" in reason  # 40 + 0.4 x 400 via an SDR
    assert result.summary()["degenerate"] == reason
    assert f"not a policy to serve: {reason}" in decision_text(result)


def test_capacity_that_fits_almost_nobody_is_named_as_the_reason() -> None:
    # given an AE team of 0.3 SQLs a week: 2 of the 400 leads in 10 weeks, though a handoff pays
    result = tune(_replay(ae_capacity_per_week=0.3), TRIALS)
    handed = result.outcome.mqls + result.outcome.sqls
    assert handed < MIN_HANDOFF_SHARE * LEADS
    assert result.degenerate is not None and "does not fit the teams' capacity" in result.degenerate
    # and the weekly load prints with the digits a team of 0.3 a week needs
    assert "AE 0.201 / 0.3" in tuning_text(result, _replay(ae_capacity_per_week=0.3))


def test_a_policy_that_hands_off_leads_is_not_degenerate() -> None:
    result = tune(_replay(), TRIALS)
    assert result.outcome.mqls + result.outcome.sqls >= MIN_HANDOFF_SHARE * LEADS
    assert result.degenerate is None and "not a policy to serve" not in decision_text(result)


def test_no_fit_score_means_no_minimum_fit_score() -> None:
    # given a source without fit features: the model scores no fit
    replay = _replay(fit=False)
    assert not replay.has_fit
    storage = optuna.storages.InMemoryStorage()
    result = tune(replay, TRIALS, storage=storage, study_name="no-fit")
    # then the study does not search one, the policy keeps 0 (absent), and nothing mentions it
    trials = optuna.load_study(study_name="no-fit", storage=storage).trials
    assert all("min_fit" not in t.params for t in trials)
    assert {t.policy.min_fit for t in result.trials} == {0.0}
    assert not result.tunes_min_fit and result.thresholds().min_fit == 0.0
    assert "min_fit" not in result.summary()["thresholds"]
    assert "fit score" not in tuning_text(result, replay)
    # while a model with a fit score gets one searched and reported
    fitted = tune(_replay(), TRIALS)
    assert fitted.tunes_min_fit and "min_fit" in fitted.summary()["thresholds"]
    assert len({t.policy.min_fit for t in fitted.trials}) > 1
    assert "minimum fit score" in cutoffs_text(fitted)


def test_cutoffs_in_won_deals_print_their_digits() -> None:
    replay = _replay(dated=False)
    result = tune(replay, TRIALS)
    line = cutoffs_text(result)
    # a cut-off near the 5% AE cost, not ">= 0"
    mql = line.split(">= ")[1].split(" ")[0]
    assert 0.01 < float(mql) < 0.2 and len(mql.rstrip("0").split(".")[1]) >= 2
    assert line.startswith(f"MQL when expected revenue >= {mql} won deals;")
    text = tuning_text(result, replay)
    assert "weekly load: unknown" in text and "costs.leads_per_week" in text
    assert "net value " in text and " won deals = value " in text


def test_a_study_without_weekly_load_resumes_from_its_storage(tmp_path: Path) -> None:
    from training.thresholds.storage import study_storage

    # given a study whose trials hold no weekly load (NaN), kept in a journal table
    url, replay = f"sqlite:///{tmp_path / 'studies.db'}", _replay(dated=False)
    first = tune(replay, 10, storage=study_storage(url), study_name="undated")
    # when it is asked for more trials
    again = tune(replay, 14, storage=study_storage(url), study_name="undated")
    # then it continues with the same trials, their work over the replayed leads intact
    assert len(again.trials) == 14
    assert [t.policy for t in again.trials[:10]] == [t.policy for t in first.trials]
    assert all(np.isfinite(t.workload) for t in again.trials)


def test_the_money_rows_add_up_to_the_net_value_the_study_reports() -> None:
    # given the chosen cut-offs, some leads handed to no one (they keep 10% of their revenue)
    replay = _replay()
    result = tune(replay, TRIALS)
    out = result.outcome
    assert 0 < len(out.handoffs) < LEADS
    # then the SDR lane, the AE lane and the leads left in nurture add up to the net value
    rows = {row["cutoff"]: row for row in cutoff_money(result, replay)}
    assert list(rows) == ["mql", "sql", "nurture", "min_fit"]
    lanes = rows["mql"]["net_value"] + rows["sql"]["net_value"]
    assert lanes + rows["nurture"]["net_value"] == pytest.approx(out.net_value)
    assert rows["nurture"]["value"] == replay.costs.nurture_value_share == 0.1
    assert rows["nurture"]["net_value"] == pytest.approx(out.nurture_value) and lanes > 0
    assert out.nurture_value > 0
    # and the study's text splits the value the same way
    text = tuning_text(result, replay)
    handed = format_amount(out.revenue - out.nurture_value)
    assert f"at the policy's speed {handed}, of the leads left in nurture " in text
    assert f"nurture {format_amount(out.nurture_value)})" in text


def test_the_starting_design_stays_in_a_narrow_search_range() -> None:
    # given expected revenues spanning a factor of 10 only (the bank draft's: no amounts)
    design = starting_design(1.0, 10.0)
    # then the design's SQL/MQL ratios stop at 10, and Optuna runs each point without a warning
    assert {d["sql_ratio"] for d in design if "sql_ratio" in d} == {1.5, 4.0, 10.0}
    study = optuna.create_study()
    for params in design:
        study.enqueue_trial(params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        study.optimize(lambda t: suggest_policy(t, 1.0, 10.0).mql, n_trials=len(design))
    assert len(study.trials) == len(design)
