"""The threshold study of a trained model: its held-out leads replayed under the config's cost
model, then the Optuna study of the MQL/SQL cut-offs on them (run or resumed)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa

from scoring.config import Config
from scoring.data.load import load_events, load_leads
from scoring.model.scorer import LeadScorer
from training.pipeline.dataset import TrainingSet
from training.thresholds.outcome import fit_outcome_model
from training.thresholds.replay import Replay, build_replay
from training.thresholds.response import SalesFeedback, sales_feedback
from training.thresholds.storage import study_storage
from training.thresholds.study import TuneResult, replay_fingerprint, tune
from training.thresholds.units import check_cost_units

HELD_OUT = ("test",)  # the fold the threshold study replays: the boosters never saw it


def held_out_replay(
    cfg: Config,
    scorer: LeadScorer,
    engine: sa.Engine,
    data: TrainingSet,
    feedback: SalesFeedback | None = None,
) -> Replay:
    """The test fold replayed under the config's cost model: the latest 20% of closed leads,
    which neither the boosters nor the stacker were fitted on (cross-fitting fits them on every
    other closed lead). Handoffs are valued by the outcome model, fitted on the development
    leads the history handed off. `feedback` defaults to what the lead database's lead_feedback
    table says (`response.sales_feedback`: nothing when it has none). Costs that cannot be in the
    data's units are refused before any of it (`units.check_cost_units`)."""
    check_cost_units(cfg)
    leads, _ = load_leads(cfg, engine)
    held = data.part(*HELD_OUT)
    events, _ = load_events(cfg, engine, list(held.label.index)) if cfg.events else (None, None)
    outcome = fit_outcome_model(cfg, data, leads.meta)
    feedback = feedback or sales_feedback(cfg, engine)
    return build_replay(
        cfg, scorer, leads, events, held.label.index, held.as_of, outcome=outcome, feedback=feedback
    )


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
