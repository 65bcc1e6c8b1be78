"""Model behaviour a sales team would check, on the synthetic CRM (20k leads)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from scoring.config import Config
from scoring.data.load import events_from_records, leads_from_records
from scoring.features import build_features
from training.pipeline.dataset import TrainingSet
from training.pipeline.fit import fit_scorer
from training.pipeline.run import TrainResult

AS_OF = pd.Timestamp("2025-06-02 09:00")
VP_IN_ICP = {
    "lead_id": "vp",
    "title": "VP Sales",
    "vertical": "software",
    "region": "north_america",
    "country": "United States",
    "employees": 900,
    "annual_revenue": 150e6,
    "tech_stack": "Salesforce;Snowflake;Slack",
    "lead_source": "organic_search",
}


def _score(result: TrainResult, lead: dict, events: list[tuple[str, str]]) -> pd.Series:
    cfg = result.config
    leads, rejects = leads_from_records(cfg, [lead])
    evs, ev_rejects = events_from_records(
        cfg, [{"lead_id": lead["lead_id"], "event_type": t, "occurred_at": w} for t, w in events]
    )
    assert rejects.empty and ev_rejects.empty
    features = build_features(cfg, leads.inputs, evs, AS_OF)
    return result.scorer.score(features).iloc[0]


def test_demo_request_yesterday_outranks_no_activity(trained: TrainResult) -> None:
    # given a VP at an in-ICP company, with and without a demo request yesterday
    active = _score(
        trained,
        VP_IN_ICP,
        [("pricing_page", "2025-06-01 08:00"), ("demo_request", "2025-06-01 08:30")],
    )
    quiet = _score(trained, VP_IN_ICP, [])
    # then the hand-raiser is more likely to win and at least as far down the funnel
    assert active["win_probability"] > quiet["win_probability"]
    assert active["intent_score"] > quiet["intent_score"]
    assert active["fit_score"] == quiet["fit_score"]  # who they are did not change


def test_a_vp_in_icp_fits_better_than_a_student_at_a_tiny_company(trained: TrainResult) -> None:
    student = VP_IN_ICP | {
        "title": "Student",
        "employees": 4,
        "annual_revenue": 2e5,
        "tech_stack": "",
    }
    assert (
        _score(trained, VP_IN_ICP, [])["fit_score"] > _score(trained, student, [])["fit_score"] + 20
    )


def test_scores_are_in_range_and_calibrated(trained: TrainResult) -> None:
    combined = trained.metrics["combined"]
    assert combined["ece"] < 0.03
    scores = trained.scorer.score(trained.data.part("test").features)
    assert (
        scores["fit_score"].between(0, 100).all() and scores["intent_score"].between(0, 100).all()
    )
    assert scores["win_probability"].between(0, 1).all()
    assert set(scores["stage"]) <= {"nurture", "mql", "sql"}


def test_combined_beats_each_single_model(trained: TrainResult) -> None:
    auc = {name: m["roc_auc"] for name, m in trained.metrics.items()}
    assert auc["combined"] > auc["fit"] and auc["combined"] > auc["intent"]


def test_raising_the_revenue_weight_of_a_segment_raises_its_scores(
    trained: TrainResult, demo_config: Config
) -> None:
    # given the same leads twice, once with the won fintech deals worth 10x more
    data = trained.data
    fintech = (data.features["vertical"] == "fintech").to_numpy()
    won_fintech = fintech & (data.label == 1).to_numpy()
    richer = dataclasses.replace(data, amount=data.amount.where(~won_fintech, data.amount * 10))
    cfg = demo_config.model_copy(
        update={"training": demo_config.training.model_copy(update={"weight_power": 1.0})}
    )

    def fintech_gap(training: TrainingSet) -> float:
        scorer, _ = fit_scorer(cfg, training)
        logit = scorer.parts["fit"].raw(data.features)
        return float(logit[fintech].mean() - logit[~fintech].mean())

    # when both are trained revenue-weighted, then fintech leads rank higher with richer deals
    assert fintech_gap(richer) > fintech_gap(data) + 0.05


def test_unweighted_training_is_a_config_switch(trained: TrainResult, demo_config: Config) -> None:
    cfg = demo_config.model_copy(
        update={"training": demo_config.training.model_copy(update={"weighting": "none"})}
    )
    weighted, _ = fit_scorer(demo_config, trained.data)
    unweighted, _ = fit_scorer(cfg, trained.data)
    x = trained.data.part("test").features
    assert not np.allclose(weighted.parts["fit"].raw(x), unweighted.parts["fit"].raw(x))
