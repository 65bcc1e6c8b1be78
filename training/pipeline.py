"""The training pipeline as one call: data -> models -> evaluation against baselines -> gate."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from scoring.config import Config
from scoring.data import load_events, load_leads
from scoring.model import LeadScorer
from training.baselines import FrequencyNaiveBayes, logistic_baseline
from training.dataset import TrainingSet, load_training_set
from training.evaluate import GateResult, bootstrap_auc, metrics, quality_gate
from training.outcome import fit_outcome_model
from training.replay import Replay, build_replay
from training.study_storage import study_storage
from training.thresholds import TuneResult, replay_fingerprint, tune
from training.train import categorical, fit_scorer, part_probability

BASELINES = ("logistic_regression", "naive_bayes")
HELD_OUT = ("validation", "test")  # folds the threshold study replays


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


def held_out_replay(
    cfg: Config, scorer: LeadScorer, engine: sa.Engine, data: TrainingSet
) -> Replay:
    """The validation and test folds replayed under the config's cost model: the latest 30% of
    closed leads, which neither the boosters nor the stacker were fitted on (more held-out wins
    make the replayed value less noisy than the test fold alone). Handoffs are valued by the
    outcome model, fitted on the earlier folds' handed-off leads."""
    leads, _ = load_leads(cfg, engine)
    held = data.part(*HELD_OUT)
    events, _ = load_events(cfg, engine, list(held.label.index)) if cfg.events else (None, None)
    outcome = fit_outcome_model(cfg, data, leads.meta)
    return build_replay(cfg, scorer, leads, events, held.label.index, held.as_of, outcome=outcome)


@dataclass(frozen=True)
class TuneSettings:
    trials: int = 300
    seed: int = 0
    pareto: bool = False
    storage: str | None = None  # SQLAlchemy URL of the study storage; None: in memory
    study_name: str | None = None


def model_fingerprint(scorer: LeadScorer) -> str:
    """Identity of a fitted model (boosters, calibration, score grids), to key its studies."""
    digest = hashlib.sha256(repr((scorer.calibration, scorer.score_grid)).encode())
    for part in scorer._all_parts().values():
        digest.update(part.booster.model_to_string().encode())
    return digest.hexdigest()[:10]


def tune_thresholds(
    cfg: Config,
    scorer: LeadScorer,
    engine: sa.Engine,
    data: TrainingSet,
    settings: TuneSettings,
) -> tuple[TuneResult, Replay]:
    """Replay the held-out leads and run (or resume) the threshold study on them. The default
    study name ties the study to the model, the cost model, the objective and the seed, so
    running it again resumes it, and new costs or new data start a new one."""
    replay = held_out_replay(cfg, scorer, engine, data)
    objective = "pareto" if settings.pareto else "net_value"
    name = settings.study_name or (
        f"thresholds-{model_fingerprint(scorer)}-{data.fingerprint()[:10]}"
        f"-{replay_fingerprint(replay)}-{objective}-seed{settings.seed}"
    )
    storage = study_storage(settings.storage)
    result = tune(replay, settings.trials, settings.seed, storage, name, settings.pareto)
    return result, replay
