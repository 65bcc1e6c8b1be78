"""The training pipeline as one call: data -> models -> evaluation against baselines -> gate."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import optuna
import sqlalchemy as sa

from scoring.config import Config
from scoring.data.checks import DataCheck
from scoring.model.scorer import LeadScorer, Thresholds
from training.pipeline.baselines import FrequencyNaiveBayes, logistic_baseline
from training.pipeline.boosters import DEV, blocks, categorical
from training.pipeline.dataset import (
    NO_AMOUNTS,
    TrainingSet,
    load_checked,
    weighting_used,
)
from training.pipeline.evaluate import GateResult, bootstrap_auc, metrics, quality_gate
from training.pipeline.fit import fit_scorer, part_probability, refit
from training.pipeline.reference import with_reference

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
    weighting: str  # how leads were weighed: "revenue", "none" or NO_AMOUNTS
    check: DataCheck | None = None  # the data check training started with
    refitted: LeadScorer | None = None  # `scorer` fitted again with the test fold

    @property
    def registered(self) -> LeadScorer:
        """The model to register: the refitted one, else the evaluated `scorer`."""
        return self.refitted or self.scorer

    def with_thresholds(self, thresholds: Thresholds) -> TrainResult:
        refitted = self.refitted.with_thresholds(thresholds) if self.refitted else None
        return dataclasses.replace(
            self, scorer=self.scorer.with_thresholds(thresholds), refitted=refitted
        )


def baseline_predictions(cfg: Config, data: TrainingSet) -> dict[str, np.ndarray]:
    """The baselines fitted on the leads the model learns from (every fold but test)."""
    train, test = data.part(*DEV), data.part("test")
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
    # a source without amounts: the deal size is one constant, so revenue figures are per win
    value = test.amount.to_numpy(dtype=float, na_value=np.nan)
    value = np.where(np.isnan(value), scorer.deal_size.amount(test.features), value)
    samples = bootstrap_auc(y, predictions, cfg.training.bootstrap, cfg.training.seed)
    report = {name: metrics(y, p, value, samples[name]) for name, p in predictions.items()}
    gate = quality_gate(samples, "combined", list(BASELINES), cfg.training.gate_margin)
    return predictions, report, gate


def check_folds(cfg: Config, data: TrainingSet) -> None:
    """The development leads (every fold but test) need won and lost leads in each
    cross-fitting block, and the test fold both to measure; the error names what lacks them."""
    dev = data.part(*DEV)
    block = blocks(dev, cfg.training.cross_folds)
    where = [
        (f"cross-fitting block {j + 1} of the development leads", block == j)
        for j in range(cfg.training.cross_folds)
    ]
    where.append(("test fold", None))
    for name, mask in where:
        labels = data.part("test").label if mask is None else dev.label[mask]
        won, lost = int(labels.sum()), int(len(labels) - labels.sum())
        if won == 0 or lost == 0:
            raise ValueError(
                f"need won and lost leads in every fold to train; the {name} has {won} won and "
                f"{lost} lost of {len(data.label)} closed leads (training.split sets the test "
                "fold, training.cross_folds the blocks)"
            )


def weighting_note(cfg: Config, weighting: str) -> str:
    """What the gate message adds when training could not weigh leads as configured."""
    if weighting != NO_AMOUNTS:
        return ""
    value = cfg.leads.deal_value
    revenue = (
        f"win probability x leads.deal_value ({value:g})"
        if value is not None
        else "the win probability (a won deal counts 1; set leads.deal_value to value it)"
    )
    return (
        " Trained unweighted: training.weighting is revenue but no lead has an amount "
        f"(leads.revenue / leads.opportunity_amount unset or empty); expected revenue is {revenue}."
    )


def drift_note(check: DataCheck, gate: GateResult) -> str:
    """A refusal is not always weak features: a base rate that moved between folds explains it."""
    if gate.passed or not check.base_rate_moved:
        return ""
    rates = ", ".join(f"{p.win_rate:.1%}" for p in check.periods)
    return (
        f" The base rate moved {check.base_rate_ratio:.1f}x over time ({rates} by "
        f"{check.ordered_by}): the test fold does not look like the training folds, so this "
        "refusal may be the shift, not the features."
    )


def run_training(
    cfg: Config, engine: sa.Engine, storage: optuna.storages.BaseStorage | None = None
) -> TrainResult:
    """Load and check the data, fit and evaluate the recipe, refit it for registration. The
    booster search keeps its studies in `storage` when given (a rerun on the same data resumes
    them)."""
    cfg, data, check = load_checked(cfg, engine)
    check_folds(cfg, data)
    weighting = weighting_used(cfg, data)
    scorer, losses = fit_scorer(cfg, data, storage=storage)
    predictions, report, gate = evaluate(cfg, data, scorer)
    note = weighting_note(cfg, weighting) + drift_note(check, gate)
    gate = dataclasses.replace(gate, message=gate.message + note)
    refitted = refit(cfg, data, scorer) if cfg.training.refit_with_test else None
    result = TrainResult(
        cfg, data, scorer, predictions, report, gate, losses, weighting, check, refitted
    )
    return with_reference(result)
