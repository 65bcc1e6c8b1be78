"""Reasons: exact TreeSHAP carried to the win probability, grouped by business field, readable."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from scoring.features import FeatureInfo
from scoring.model.reasons import contributions, explain, scores_and_reasons
from scoring.model.scorer import Encoder, LeadScorer, Part
from scoring.model.wording import _event_sentence
from training.pipeline.boosters import candidates, categorical, fit_booster, lightgbm_params
from training.pipeline.run import TrainResult


@pytest.fixture(scope="module")
def sample(trained: TrainResult) -> pd.DataFrame:
    """300 leads of the demo world at the moment training scored them."""
    return trained.data.features.sample(300, random_state=3)


def recipes(trained: TrainResult) -> dict[str, LeadScorer]:
    """Every shape of model training can register: the evaluated model, the one refitted with
    the test fold, the fit + intent stack with and without the joint booster, and the joint
    booster alone (the fit and intent boosters kept for their scores, at weight 0)."""
    scorer = trained.scorer
    own = [k for k, name in enumerate(scorer.parts) if name != "joint"]
    w = scorer.calibration.weights
    stack = dataclasses.replace(
        scorer,
        parts={name: part for name, part in scorer.parts.items() if name != "joint"},
        calibration=dataclasses.replace(
            scorer.calibration, weights=(w[0], *(w[1 + k] for k in own))
        ),
    )
    joint = dataclasses.replace(scorer, parts=scorer.parts | {"joint": _joint(trained)})
    if "joint" not in scorer.parts:
        joint = dataclasses.replace(
            joint, calibration=dataclasses.replace(scorer.calibration, weights=(*w, 0.5))
        )
    w3 = joint.calibration.weights
    alone = dataclasses.replace(
        joint, calibration=dataclasses.replace(joint.calibration, weights=(w3[0], 0.0, 0.0, w3[3]))
    )
    return {
        "evaluated": scorer,
        "registered": trained.registered,
        "fit + intent": stack,
        "fit + intent + joint": joint,
        "joint alone": alone,
    }


def _joint(trained: TrainResult) -> Part:
    if "joint" in trained.scorer.parts:
        return trained.scorer.parts["joint"]
    cfg, dev = trained.config, trained.data.part("train")
    names = candidates(cfg)["joint"]
    encoder = Encoder.fit(dev.features, names, categorical(cfg))
    train = (dev.features, dev.label.to_numpy(), None)
    return Part(encoder, fit_booster(encoder, train, None, lightgbm_params(cfg), 50))


@pytest.mark.parametrize(
    "recipe", ["evaluated", "registered", "fit + intent", "fit + intent + joint", "joint alone"]
)
def test_impacts_reconcile_with_the_score(
    trained: TrainResult, sample: pd.DataFrame, recipe: str
) -> None:
    scorer = recipes(trained)[recipe]
    found = contributions(scorer, sample)
    p = scorer.score(sample)["win_probability"].to_numpy()
    # every field's impact, summed, is exactly the lead's move from the baseline probability
    np.testing.assert_allclose(found.points.sum(axis=1), 100 * (p - found.baseline), atol=1e-9)
    # and the SHAP row sums are the models' own raw scores
    for name, part in scorer.parts.items():
        np.testing.assert_allclose(found.logits[name], part.raw(sample), rtol=1e-9, atol=1e-9)
    # so do the rounded impacts a rep sees in a response, to rounding
    reasons = explain(scorer, sample)
    for why, prob in zip(reasons, p, strict=True):
        total = sum(why["impacts"].values())
        assert total == pytest.approx(100 * (prob - why["baseline_probability"]), abs=2e-3)
        assert {r["model"] for r in why["positive"] + why["negative"]} <= {"fit", "intent"}
    # and whatever the recipe, sales get both scores from the fit and intent boosters
    scores = scorer.score(sample)
    assert scores[["fit_score", "intent_score"]].notna().all().all()


def test_reasons_are_ordered_labelled_and_readable(
    trained: TrainResult, sample: pd.DataFrame
) -> None:
    scorer = trained.scorer
    fields = {info.field: info.group for info in scorer.spec}
    for why in explain(scorer, sample, top=3):
        pos, neg = why["positive"], why["negative"]
        assert len(pos) <= 3 and len(neg) <= 3
        assert all(r["impact"] > 0 for r in pos) and all(r["impact"] < 0 for r in neg)
        assert [r["impact"] for r in pos] == sorted((r["impact"] for r in pos), reverse=True)
        assert [r["impact"] for r in neg] == sorted(r["impact"] for r in neg)
        for model in ("fit", "intent"):
            assert all(r["model"] == model == fields[r["field"]] for r in why[model])
        for reason in pos + neg + why["fit"] + why["intent"]:
            # "<what the lead is or did>: +1.2 pts", never a raw feature name
            assert re.fullmatch(r"[A-Z0-9].*: [+-]\d+\.\d pts", reason["text"]), reason["text"]
            assert "_" not in reason["text"].rsplit(":", 1)[0]


def test_event_sentences_read_like_a_rep_would_say_them(trained: TrainResult) -> None:
    cfg = trained.config
    info = FeatureInfo("pricing_page_7d", "intent", "numeric", "pricing_page", "x")
    assert _event_sentence(info, 3.0, cfg) == "Visited the pricing page 3 times in the last 7 days"
    assert _event_sentence(info, 1.0, cfg) == "Visited the pricing page once in the last 7 days"
    assert _event_sentence(info, 0.0, cfg) == "No pricing page visits in the last 7 days"
    ever = FeatureInfo("demo_request_ever", "intent", "numeric", "demo_request", "x")
    assert _event_sentence(ever, 1.0, cfg) == "Requested a demo (so far)"


def test_leads_below_sql_get_the_gap(trained: TrainResult, sample: pd.DataFrame) -> None:
    scorer: LeadScorer = trained.scorer
    scores, reasons = scores_and_reasons(scorer, sample)
    t = scorer.thresholds
    for i, why in enumerate(reasons):
        gap = why["to_sql"]
        if scores["stage"][i] == "sql":
            assert gap is None
            continue
        value, p = scores["expected_revenue"][i], scores["win_probability"][i]
        assert gap["expected_revenue_gap"] == pytest.approx(max(t.sql - value, 0), abs=0.01)
        # the probability that would reach the cut-off at this lead's deal size
        needed = gap["win_probability_needed"]
        assert needed == pytest.approx(min(t.sql / (value / p), 1.0), abs=1e-4)
        assert gap["text"]


def test_frame_and_arrays_give_the_same_reasons(trained: TrainResult, sample: pd.DataFrame) -> None:
    scorer = trained.scorer
    arrays = {name: sample[name].to_numpy() for name in sample.columns}
    assert explain(scorer, arrays) == explain(scorer, sample)
    together, _ = scores_and_reasons(scorer, arrays)
    apart = scorer.score_arrays(arrays)
    for key, values in apart.items():
        np.testing.assert_array_equal(np.asarray(together[key]), values)


def test_a_lead_gets_the_same_bits_alone_and_in_a_batch(
    trained: TrainResult, sample: pd.DataFrame
) -> None:
    # the real-time service scores one lead, the batch job thousands: no row-count effects
    scorer = trained.scorer
    scores, reasons = scores_and_reasons(scorer, sample)
    for i in (0, 17, 299):
        one = sample.iloc[[i]]
        alone_scores, alone_reasons = scores_and_reasons(scorer, one)
        for key, values in alone_scores.items():
            assert values[0] == scores[key][i], key
        assert alone_reasons[0] == reasons[i]


def test_event_order_does_not_change_a_single_bit(trained: TrainResult) -> None:
    # a CRM may post a lead's events newest first; the lead database holds them in its own order
    from scoring.data.load import event_arrays_from_records, lead_arrays_from_records
    from scoring.features import feature_arrays

    cfg = trained.config
    leads, _, _ = lead_arrays_from_records(cfg, [{"lead_id": "a"}])
    rng = np.random.default_rng(1)
    kinds = list(cfg.events.types)
    records = [
        {
            "lead_id": "a",
            "event_type": kinds[int(rng.integers(len(kinds)))],
            "occurred_at": f"2025-05-{rng.integers(1, 31):02d}T{rng.integers(24):02d}:00Z",
        }
        for _ in range(60)
    ]
    as_of = np.array([np.datetime64("2025-06-01T00:00")])
    first = None
    for _ in range(5):
        rng.shuffle(records)
        events, _, _ = event_arrays_from_records(cfg, records)
        features = feature_arrays(cfg, leads.inputs, leads.ids, events, as_of)
        values = {k: v.tobytes() for k, v in features.items() if v.dtype != object}
        first = first or values
        assert values == first
