"""The training pipeline as one call: data -> models -> evaluation against baselines -> gate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from scoring.config import Config
from scoring.model.scorer import LeadScorer
from training.pipeline.baselines import FrequencyNaiveBayes, logistic_baseline
from training.pipeline.dataset import TrainingSet, load_training_set
from training.pipeline.evaluate import GateResult, bootstrap_auc, metrics, quality_gate
from training.pipeline.fit import categorical, fit_scorer, part_probability

BASELINES = ("logistic_regression", "naive_bayes")


@dataclass(frozen=True)
class TrainResult:
    config: Config
    data: TrainingSet
    scorer: LeadScorer
    predictions: dict[str, np.ndarray]  # model name -> test-fold win probability
    metrics: dict[str, dict[str, float]]  # model name -> metric -> value
    gate: GateResult
    calibration_losses: dict[str, float]


def baseline_predictions(cfg: Config, data: TrainingSet) -> dict[str, np.ndarray]:
    train, test = data.part("train"), data.part("test")
    cats = categorical(cfg)
    logreg = logistic_baseline(train.features, train.label, cats, cfg.training.seed)
    x_test = test.features.astype({c: object for c in test.features.columns if c in cats})
    bayes = FrequencyNaiveBayes().fit(train.features, train.label, cats)
    return {
        "logistic_regression": logreg.predict_proba(x_test)[:, 1],
        "naive_bayes": bayes.predict_proba(test.features),
    }


def evaluate(cfg: Config, data: TrainingSet, scorer: LeadScorer) -> tuple[dict, dict, GateResult]:
    test = data.part("test")
    y = test.label.to_numpy()
    if y.min() == y.max():
        raise ValueError("the test fold has only one class: too few closed leads to evaluate")
    predictions = {"combined": scorer.score(test.features)["win_probability"].to_numpy()}
    for name in scorer.parts:
        predictions[name] = part_probability(scorer, name, test.features)
    predictions |= baseline_predictions(cfg, data)
    value = test.amount.to_numpy(dtype=float, na_value=np.nan)
    value = np.where(np.isnan(value), scorer.deal_size.amount(test.features), value)
    samples = bootstrap_auc(y, predictions, cfg.training.bootstrap, cfg.training.seed)
    report = {name: metrics(y, p, value, samples[name]) for name, p in predictions.items()}
    gate = quality_gate(samples, "combined", list(BASELINES), cfg.training.gate_margin)
    return predictions, report, gate


def run_training(cfg: Config, engine: sa.Engine) -> TrainResult:
    data = load_training_set(cfg, engine)
    if data.label.nunique() < 2 or (data.fold == "test").sum() == 0:
        raise ValueError(
            "need won and lost leads in every fold to train; found too few closed leads"
        )
    scorer, losses = fit_scorer(cfg, data)
    predictions, report, gate = evaluate(cfg, data, scorer)
    return TrainResult(cfg, data, scorer, predictions, report, gate, losses)
