"""Optuna search of each booster's settings, on the cross-fitting blocks.

One study per part (fit, intent): a trial cross-validates the part's booster over the
development blocks (`cross_validate`, on a sample of 40,000 leads at most) and scores it by the
held-out blocks' log loss, each at its own win rate (unweighted, per lead: what the stacker and
calibration work with; `level_free_log_loss`).
TPE, seeded, starting from the default settings (so the search never ends worse than them on
the blocks); `training.tune_trials` trials per part, fewer if `training.tune_seconds` runs out
first. With a storage the study is kept and a rerun on the same data resumes it, like the
threshold study. The winning settings are what the cross-fitting and the registered boosters
use; with no trial, the defaults of `lightgbm_params`. A setting the config's `training.lightgbm`
fixes is left out of the search.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna

from scoring.config import Config
from scoring.model.scorer import Encoder
from training.pipeline.boosters import candidates, categorical, cross_validate, lightgbm_params
from training.pipeline.dataset import TrainingSet

SEARCH_ROWS = 40_000  # leads a trial fits on at most: a sample of the blocks keeps trials quick
# The loss a trial's value is, in the study's name: a study kept from before a change of loss
# (plain log loss until the level-free one) is not resumed, its values mixed with the new ones.
LOSS = "levelfree2"


@dataclass(frozen=True)
class Search:
    """The settings each part trains with, and the studies that chose them."""

    params: dict[str, dict]  # part -> LightGBM parameters
    studies: dict[str, optuna.Study]  # part -> its study (none without trials)

    def summary(self) -> str:
        if not self.studies:
            return "default booster settings"
        found = ", ".join(
            f"{part} {len(_finished(s))} trials (level-free log loss {s.best_value:.4f})"
            for part, s in self.studies.items()
        )
        return f"booster settings searched: {found}"

    def record(self) -> dict:
        """What the model keeps of the search: each part's settings and every trial."""
        return {
            part: {
                "params": self.params[part],
                "trials": [
                    {
                        "number": t.number,
                        "level_free_log_loss": t.value,
                        "rounds": t.user_attrs.get("rounds"),
                        "params": t.params,
                    }
                    for t in _finished(self.studies[part])
                ]
                if part in self.studies
                else [],
            }
            for part in self.params
        }


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


SPACE: dict[str, Callable[[optuna.Trial], float | int]] = {
    "learning_rate": lambda t: t.suggest_float("learning_rate", 0.02, 0.2, log=True),
    "num_leaves": lambda t: t.suggest_int("num_leaves", 4, 64, log=True),
    "min_data_in_leaf": lambda t: t.suggest_int("min_data_in_leaf", 10, 400, log=True),
    "lambda_l2": lambda t: t.suggest_float("lambda_l2", 1e-3, 100.0, log=True),
    "feature_fraction": lambda t: t.suggest_float("feature_fraction", 0.4, 1.0),
}


def searched(cfg: Config) -> list[str]:
    """The settings the search tries: `SPACE` but those the config's `training.lightgbm` sets
    (they win over the search anyway, and may lie outside its ranges: `lambda_l2: 0`)."""
    return [name for name in SPACE if name not in cfg.training.lightgbm]


def _space(trial: optuna.Trial, names: list[str]) -> dict:
    return {name: SPACE[name](trial) for name in names}


def _objective(
    cfg: Config,
    dev: TrainingSet,
    block: np.ndarray,
    weights: np.ndarray,
    names: list[str],
    forward: bool,
):
    rows = np.ones(len(block), dtype=bool)
    if len(block) > SEARCH_ROWS:  # a seeded sample, the same for every trial
        rng = np.random.default_rng(cfg.training.seed)
        rows = np.isin(np.arange(len(block)), rng.choice(len(block), SEARCH_ROWS, replace=False))
    y = dev.label.to_numpy()[rows]
    x = dev.features[rows]
    encoder = Encoder.fit(x, names, categorical(cfg))
    base = lightgbm_params(cfg, leads=len(dev.label))
    names_searched = searched(cfg)

    def objective(trial: optuna.Trial) -> float:
        params = base | _space(trial, names_searched)
        cv = cross_validate(encoder, (x, y, weights[rows]), block[rows], params, forward)
        trial.set_user_attr("rounds", cv.rounds)
        return cv.loss

    return objective


def defaults(cfg: Config, leads: int | None = None) -> Search:
    """No search: every part with `lightgbm_params` for that many development leads."""
    return Search({part: lightgbm_params(cfg, leads=leads) for part in candidates(cfg)}, {})


def study_name(cfg: Config, dev: TrainingSet, part: str) -> str:
    """One study per part, loss, leads and seed, and per `training.lightgbm` overrides: trials
    run under other fixed settings are not resumed."""
    name = f"boosters-{part}-{LOSS}-{dev.fingerprint()[:10]}-seed{cfg.training.seed}"
    fixed = cfg.training.lightgbm
    if not fixed:
        return name
    digest = hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()[:8]
    return f"{name}-fixed{digest}"


def search_params(
    cfg: Config,
    dev: TrainingSet,
    block: np.ndarray,
    weights: np.ndarray,
    storage: optuna.storages.BaseStorage | None = None,
    forward: bool = False,
) -> Search:
    """Each part's settings: the best trial of its study, or the defaults without trials. The
    config's `training.lightgbm` overrides win over what the search finds."""
    base = lightgbm_params(cfg, leads=len(dev.label))
    trials = cfg.training.tune_trials
    if trials == 0 or not searched(cfg):
        return defaults(cfg, len(dev.label))
    params, studies = {}, {}
    deadline = time.monotonic() + cfg.training.tune_seconds
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial otherwise
    for part, names in candidates(cfg).items():
        study = optuna.create_study(
            study_name=study_name(cfg, dev, part),
            storage=storage,
            sampler=optuna.samplers.TPESampler(seed=cfg.training.seed),
            direction="minimize",
            load_if_exists=True,
        )
        if not study.trials:  # the defaults first: the search never ends worse than them
            study.enqueue_trial({name: base[name] for name in searched(cfg)})
        left = trials - len(_finished(study))
        if left > 0:
            study.optimize(
                _objective(cfg, dev, block, weights, names, forward),
                n_trials=left,
                timeout=max(deadline - time.monotonic(), 1.0)
                / (len(candidates(cfg)) - len(params)),
            )
        params[part] = base | study.best_params | dict(cfg.training.lightgbm)
        studies[part] = study
    return Search(params, studies)
