"""What `leadscore monitor` judges a model against, kept in the model's metadata: the
distributions of the test fold's features (the latest labelled leads) and of the registered
model's win probabilities on them, the held-out evaluation's test ROC AUC and ECE, and when the
outcomes it learnt from were known (leads closed after that are new to it)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from scoring.features import feature_spec
from scoring.model.scorer import LeadScorer
from scoring.monitoring.drift import build_profile

if TYPE_CHECKING:
    from training.pipeline.run import TrainResult

KEY = "monitoring"


def reference(result: TrainResult) -> dict:
    test = result.data.part("test")
    combined = result.metrics["combined"]
    known_at = result.data.known_at
    return {
        "profile": build_profile(test.features, _scores(result), feature_spec(result.config)),
        "known_at": None if known_at is None else known_at.isoformat(),
        "test_roc_auc": float(combined["roc_auc"]),
        "test_ece": float(combined["ece"]),
        "test_leads": len(test.label),
    }


def _scores(result: TrainResult) -> np.ndarray:
    """The test fold's win probabilities by the model that is registered: the refitted one
    learnt from these leads too, but its scores are what new leads are compared with (the
    evaluated model's differ more: on the demo, score PSI 0.25-0.28 on unchanged new leads
    against 0.04 with the registered model's)."""
    test = result.data.part("test")
    return result.registered.score(test.features)["win_probability"].to_numpy()


def _with(scorer: LeadScorer, doc: dict) -> LeadScorer:
    return dataclasses.replace(scorer, metadata=scorer.metadata | {KEY: doc})


def with_reference(result: TrainResult) -> TrainResult:
    """`result` whose evaluated and registered models carry the monitoring reference."""
    doc = reference(result)
    refitted = _with(result.refitted, doc) if result.refitted else None
    return dataclasses.replace(result, scorer=_with(result.scorer, doc), refitted=refitted)
