"""What `leadscore monitor` judges a model against, kept in the model's metadata: the
distributions of the test fold's features and win probabilities (the latest leads the model
was evaluated on, out of sample), its test ROC AUC and ECE, and when the outcomes it learnt
from were known (leads closed after that are new to it)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

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
        "profile": build_profile(
            test.features, result.predictions["combined"], feature_spec(result.config)
        ),
        "known_at": None if known_at is None else known_at.isoformat(),
        "test_roc_auc": float(combined["roc_auc"]),
        "test_ece": float(combined["ece"]),
        "test_leads": len(test.label),
    }


def _with(scorer: LeadScorer, doc: dict) -> LeadScorer:
    return dataclasses.replace(scorer, metadata=scorer.metadata | {KEY: doc})


def with_reference(result: TrainResult) -> TrainResult:
    """`result` whose evaluated and registered models carry the monitoring reference."""
    doc = reference(result)
    refitted = _with(result.refitted, doc) if result.refitted else None
    return dataclasses.replace(result, scorer=_with(result.scorer, doc), refitted=refitted)
