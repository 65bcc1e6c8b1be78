"""The threshold study: capacity holds, costs move the cut-offs the right way, studies resume
from the MLflow database, the Pareto front is a front, and snapshot data gets the static
fallback."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from scoring.config import CostModel
from scoring.data.load import load_leads
from training.pipeline.run import TrainResult
from training.thresholds.replay import Policy, Replay, build_replay
from training.thresholds.storage import TABLE, study_storage
from training.thresholds.study import TuneResult, grid_search, pareto_front, tune

TRIALS = 200


@pytest.fixture(scope="module")
def base(replay: Replay) -> TuneResult:
    return tune(replay, TRIALS, seed=0)


ROOMY = {"sdr_capacity_per_week": 10_000.0, "ae_capacity_per_week": 10_000.0}


@pytest.fixture(scope="module")
def roomy(replay: Replay) -> Replay:
    """Teams with room to spare: a cost's own effect, without capacity binding the study."""
    return replay.with_costs(replay.costs.model_copy(update=ROOMY))


@pytest.fixture(scope="module")
def roomy_base(roomy: Replay) -> TuneResult:
    return tune(roomy, TRIALS, seed=0)


def _with(replay: Replay, **costs: float) -> TuneResult:
    return tune(replay.with_costs(replay.costs.model_copy(update=costs)), TRIALS, seed=0)


def test_tuned_policy_beats_the_default_cutoffs_within_capacity(
    trained: TrainResult, replay: Replay, base: TuneResult
) -> None:
    # given the model's default cut-offs (70th/90th percentile) and handing off nobody
    default = trained.scorer.thresholds
    by_default = replay.evaluate(Policy(default.mql, default.sql))
    load, costs = replay.load(by_default), replay.costs
    overloaded = (
        load.sdr_per_week > costs.sdr_capacity_per_week
        or load.ae_per_week > costs.ae_capacity_per_week
    )
    nobody = replay.evaluate(Policy(np.inf, np.inf)).net_value
    # then the defaults send the AEs more than they can work (percentiles know nothing of
    # capacity), while the study earns more than doing nothing within the teams' capacity
    assert overloaded
    assert base.outcome.net_value > nobody
    assert base.load.sdr_per_week <= replay.costs.sdr_capacity_per_week
    assert base.load.ae_per_week <= replay.costs.ae_capacity_per_week
    assert base.thresholds().source == "tuned" and base.policy.sql >= base.policy.mql
    assert base.mode == "timeline" and len(base.trials) == TRIALS
    assert base.degenerate is None and base.tunes_min_fit and base.unit == ""


def test_cheaper_ae_lowers_the_sql_cutoff(roomy: Replay, roomy_base: TuneResult) -> None:
    # given AEs at four times the default cost (1,600 a lead instead of 400)
    pricey = _with(roomy, ae_cost_per_sql=4 * roomy.costs.ae_cost_per_sql)
    # then at the default (cheaper) AE cost more leads go straight to an AE
    assert roomy_base.policy.sql < pricey.policy.sql
    assert roomy_base.outcome.sqls > pricey.outcome.sqls


def test_shorter_half_life_waits_for_the_ask(roomy: Replay, roomy_base: TuneResult) -> None:
    # given leads that stay warm for four days instead of one
    patient = _with(roomy, ready_half_life_hours=96.0)
    fast, slow = roomy_base.speed, patient.speed
    assert fast is not None and slow is not None
    # then with the default (shorter) half-life fewer leads are handed off, and fewer before
    # they are ready. The history called a day after its handoffs: the shorter the half-life,
    # the more value that lost, so the more a call hours after the ask recovers, next to a call
    # before it (docs/thresholds.md, "What the costs do": the MQL cut-off rises, not falls)
    assert fast.early_share < slow.early_share
    assert roomy_base.outcome.mqls + roomy_base.outcome.sqls < (
        patient.outcome.mqls + patient.outcome.sqls
    )
    assert roomy_base.policy.mql > patient.policy.mql


def test_headroom_keeps_part_of_the_capacity_free(replay: Replay) -> None:
    # given an AE team of 40 SQLs a week, which binds, and the default 10% headroom
    planned = _with(replay, ae_capacity_per_week=40.0)
    assert replay.costs.capacity_headroom == pytest.approx(0.1)
    # then the study plans to 36 of them; without headroom it uses the rest, for more value
    full = _with(replay, ae_capacity_per_week=40.0, capacity_headroom=0.0)
    assert planned.load.ae_per_week <= 36.0 < full.load.ae_per_week <= 40.0
    assert full.outcome.net_value > planned.outcome.net_value


def test_outcome_model_needs_recorded_handoffs(trained: TrainResult) -> None:
    from training.thresholds.outcome import fit_outcome_model

    cfg, data = trained.config, trained.data
    leads, _ = load_leads(cfg, sa.create_engine(cfg.source.database))
    # given a source without funnel dates, or with too few won handoffs in a fold
    no_funnel = cfg.model_copy(
        update={
            "leads": cfg.leads.model_copy(update={"funnel": {}}),
            "training": cfg.training.model_copy(update={"score_at_stage": None}),
        }
    )
    few_wins = leads.meta.assign(
        mql_at=leads.meta["mql_at"].where(data.label.reindex(leads.meta.index, fill_value=0) == 0)
    )
    # then there is no outcome model: the replay values handoffs with the scoring model
    assert fit_outcome_model(no_funnel, data, leads.meta) is None
    assert fit_outcome_model(cfg, data, few_wins) is None
    # and otherwise it is fitted on the earlier folds' handed-off leads only
    model = fit_outcome_model(cfg, data, leads.meta)
    assert model is not None and 0.3 < model.handoff_rate < 0.7


def test_outcome_model_values_leads_the_history_never_called(
    trained: TrainResult, replay: Replay
) -> None:
    # given the replay's values (outcome model) and the lead-scoring model's expected revenue
    tl = replay.timeline
    # then the outcome model, fitted on called leads only, values a handoff above what the
    # scoring model expects overall (which counts never-called leads as losses)
    assert not np.array_equal(tl.value, tl.revenue)
    assert np.median(tl.value / tl.revenue) > 1.0
    # and it learnt who is worth a call: at their best moment the eventual wins are worth more
    peak = np.zeros(len(tl.lead_ids))
    np.maximum.at(peak, tl.lead, tl.value)
    won = replay.revenue > 0
    assert peak[won].mean() > 1.5 * peak[~won].mean()


def test_local_design_stays_in_the_search_space() -> None:
    from training.thresholds.study import local_design

    best = {"mql": 500.0, "lanes": "sdr_and_ae", "sql_ratio": 3.0, "min_fit": 5}
    design = local_design(best, lo=10.0, hi=1_000.0, width=1.6)
    assert all(10.0 <= d["mql"] <= 1_000.0 for d in design)
    assert all(0 <= d["min_fit"] <= 80 and d["min_fit"] % 5 == 0 for d in design)
    assert all(1.0 <= d.get("sql_ratio", 1.0) <= 100.0 for d in design)
    assert {d["min_fit"] for d in design} == {0, 5, 10, 15}
    assert any(d["lanes"] == "ae_only" for d in design)


def test_interrupted_study_resumes_without_repeating_trials(replay: Replay) -> None:
    import optuna

    from training.thresholds.study import _key

    # given a study killed mid-way, leaving enqueued trials that never ran
    storage = optuna.storages.InMemoryStorage()
    tune(replay, 80, seed=5, storage=storage, study_name="killed")
    study = optuna.load_study(study_name="killed", storage=storage)
    study.enqueue_trial({"mql": 1_000.0, "lanes": "ae_only", "min_fit": 0})
    # when it is resumed with more trials
    result = tune(replay, 120, seed=5, storage=storage, study_name="killed")
    # then it runs exactly the missing trials, the stale one among them, and repeats none
    states = [t.state for t in optuna.load_study(study_name="killed", storage=storage).trials]
    assert len(result.trials) == 120 and optuna.trial.TrialState.WAITING not in states
    keys = [_key(t.params) for t in optuna.load_study(study_name="killed", storage=storage).trials]
    assert len(set(keys)) == len(keys)


def test_tighter_capacity_raises_the_cutoffs(roomy: Replay, roomy_base: TuneResult) -> None:
    tight = _with(roomy, sdr_capacity_per_week=40.0, ae_capacity_per_week=15.0)
    assert tight.policy.mql > roomy_base.policy.mql
    assert tight.policy.sql >= roomy_base.policy.sql
    assert tight.load.sdr_per_week <= 40.0 and tight.load.ae_per_week <= 15.0
    assert roomy_base.load.ae_per_week > 15.0  # the constraint really binds


def test_study_resumes_from_the_mlflow_database(replay: Replay, mlflow_store: str) -> None:
    import mlflow

    from scoring.model import registry

    # given an MLflow store with a run in it, and a study stored in the same database
    registry.setup()
    with mlflow.start_run():
        mlflow.log_metric("x", 1.0)
    first = tune(replay, 30, seed=3, storage=study_storage(mlflow_store), study_name="s")
    # when the same study is asked for more trials
    again = tune(replay, 40, seed=3, storage=study_storage(mlflow_store), study_name="s")
    # then it continues (the first 30 trials are the same ones) and MLflow is untouched
    assert len(first.trials) == 30 and len(again.trials) == 40
    assert [t.policy for t in again.trials[:30]] == [t.policy for t in first.trials]
    assert again.outcome.net_value >= first.outcome.net_value
    assert len(mlflow.search_runs()) == 1
    with sa.create_engine(mlflow_store).connect() as conn:
        assert conn.execute(sa.text(f"select count(*) from {TABLE}")).scalar() > 0


def test_pareto_mode_returns_a_front(replay: Replay) -> None:
    result = tune(replay, 150, seed=1, pareto=True)
    front = result.pareto
    assert len(front) >= 3 and result.objective == "pareto"
    workloads = [t.workload for t in front]
    values = [t.net_value for t in front]
    assert workloads == sorted(workloads) and values == sorted(values)  # more work, more value
    for point in front:  # nothing feasible beats a front point on both axes
        assert not any(
            t.net_value > point.net_value and t.workload < point.workload
            for t in result.trials
            if t.feasible(replay)
        )
    assert result.outcome.net_value == pytest.approx(max(values))


def test_pareto_front_of_known_points() -> None:
    from training.thresholds.study import Trial

    def trial(n: int, value: float, sdr: float) -> Trial:
        return Trial(n, Policy(1, 1), value, sdr, 0.0, 0, 0)

    points = [trial(0, 10, 5), trial(1, 8, 6), trial(2, 12, 9), trial(3, 12, 10), trial(4, 3, 1)]
    assert [t.number for t in pareto_front(points)] == [4, 0, 2]


def test_grid_search_is_exhaustive_on_its_grid(replay: Replay, base: TuneResult) -> None:
    policy, outcome = grid_search(replay, points=12, min_fits=(0.0, 40.0))
    assert outcome.net_value == pytest.approx(replay.evaluate(policy).net_value)
    assert outcome.net_value <= base.outcome.net_value * 1.05  # the study is not far off


def test_snapshot_data_falls_back_to_a_static_policy(trained: TrainResult) -> None:
    # given leads with no event timeline
    cfg = trained.config
    leads, _ = load_leads(cfg, sa.create_engine(cfg.source.database))
    test = trained.data.part("test")
    static = build_replay(cfg, trained.scorer, leads, None, test.label.index, test.as_of)
    # then each lead is scored once, valued by the lead-scoring model here (no outcome model
    # given), and its value does not depend on when it is contacted
    assert static.mode == "static"
    assert len(static.timeline.at) == len(test.label)
    assert np.array_equal(static.timeline.value, static.timeline.revenue)
    value, _ = static.value_model()
    moment = np.arange(len(static.timeline.at))
    early, _ = value(moment, static.timeline.at)
    late, _ = value(moment, static.timeline.at + 30)
    assert np.array_equal(early, late)
    result = tune(static, 120, seed=0)
    assert result.mode == "static" and result.outcome.net_value > 0


def test_held_out_leads_without_creation_dates_are_not_one_week(trained: TrainResult) -> None:
    # given the demo source as an export without creation dates
    cfg = trained.config
    undated = cfg.model_copy(update={"leads": cfg.leads.model_copy(update={"created_at": None})})
    leads, _ = load_leads(undated, sa.create_engine(cfg.source.database))
    test = trained.data.part("test")
    replay = build_replay(undated, trained.scorer, leads, None, test.label.index, test.as_of)
    # then nothing says how many leads come in a week: no weekly load, no capacity constraint
    assert not replay.dated and replay.per_week is None
    cheap = {"sdr_cost_per_mql": 10.0, "ae_cost_per_sql": 100.0, "ae_capacity_per_week": 1.0}
    tight = replay.with_costs(replay.costs.model_copy(update=cheap))
    result = tune(tight, 60, seed=0)
    assert not result.load.known and result.degenerate is None
    assert result.outcome.ae_load > 60  # far above one week of 1 SQL
    # unless the config gives the flow: the same leads under 200 new leads a week, of which
    # the AEs can take too few for a policy worth serving, and the study says why
    flow = tight.costs.model_copy(update={"leads_per_week": 200.0})
    planned = tune(tight.with_costs(flow), 60, seed=0)
    assert planned.load.known and planned.load.ae_per_week <= 0.9
    assert planned.degenerate is not None and "capacity" in planned.degenerate


def test_costs_are_documented() -> None:
    for name, field in CostModel.model_fields.items():
        assert field.description, f"costs.{name} has no description"


def test_training_with_tuning_registers_the_tuned_cutoffs(
    trained: TrainResult, replay: Replay, base: TuneResult, mlflow_store: str
) -> None:

    from scoring.model import registry
    from training import tracking

    # given a training whose model carries the study's cut-offs (what `train --tune-thresholds`
    # does)
    result = trained.with_thresholds(base.thresholds())
    # when it is logged with its study
    run_id, version = tracking.log_training(result, {}, register=True, tuning=(base, replay))
    # then the registered version serves those cut-offs, and the run holds the study
    client = registry.setup()
    scorer, _ = registry.load_scorer(client, version)
    assert scorer.thresholds == base.thresholds()
    assert client.get_model_version("lead-scoring", version).tags["thresholds"] == base.study_name
    metrics = client.get_run(run_id).data.metrics
    assert metrics["handoff_net_value"] == pytest.approx(base.outcome.net_value)
    assert metrics["handoff_ae_per_week"] <= replay.costs.ae_capacity_per_week
