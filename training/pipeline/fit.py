"""Fit the fit and intent models (LightGBM, revenue-weighted), the joint challenger, the stacker
and calibration, and the expected deal size; assemble the runtime `LeadScorer`.

Cross-fitting: the development leads (every fold but test) are cut into `training.cross_folds`
blocks in fold order. Each block's logits come from boosters fitted on the earlier blocks when
the order is time, on all the other blocks otherwise; the stacker and the calibration learn
from those out-of-fold logits, so no lead is spent on calibration alone. The boosters of all
blocks stop together, at the round where the held-out blocks' mean log loss stops falling; the
registered boosters are then refitted on all development leads for that many rounds. The joint
booster (all features) joins the fit + intent stack when that lowers the stacker's out-of-block
log loss, and on fewer than `JOINT_ALONE_WINS` wins replaces it (`choose_parts`). `refit`
fits the chosen recipe again with the test fold, after evaluation.

A source without deal amounts (no revenue or opportunity amount column, or every amount missing)
trains unweighted whatever `training.weighting` says, and its deal size is the constant
`leads.deal_value` (1 when unset: expected revenue is then the win probability)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd

from scoring.config import Config
from scoring.model.scorer import (
    DealSize,
    Encoder,
    LeadScorer,
    Part,
    Thresholds,
    sigmoid,
)
from training.pipeline.boosters import (
    DEV,
    JOINT,
    blocks,
    candidates,
    categorical,
    cross_validate,
    fit_booster,
    groups,
    lightgbm_params,
    stop_rows,
)
from training.pipeline.dataset import TrainingSet, revenue_weights, weighting_used
from training.pipeline.search import Search, defaults, search_params
from training.pipeline.stacker import (
    base_rate,
    choose_parts,
    fit_calibration,
    ranks_held_out_blocks,
    weighing,
    with_parts,
)

# Quantiles of the out-of-fold expected revenue used as cut-offs until the threshold study runs.
DEFAULT_MQL_QUANTILE, DEFAULT_SQL_QUANTILE = 0.70, 0.90


@dataclass(frozen=True)
class CrossFit:
    """The parts refitted on every development lead, and each lead's out-of-fold logits."""

    parts: dict[str, Part]
    logits: np.ndarray  # development leads x parts, from boosters that did not see the lead
    block: np.ndarray  # each development lead's block
    rounds: dict[str, int]  # part -> the rounds cross-validation chose


def cross_fit(
    cfg: Config,
    dev: TrainingSet,
    weights: np.ndarray,
    params: dict[str, dict],
    block: np.ndarray,
    tried: dict[str, list[str]],
    forward: bool = False,
) -> CrossFit:
    """Out-of-fold logits of each booster `tried` (name -> its features, with its `params`)
    over the cross-fitting `block`s, then each booster refitted on all of `dev` for the rounds
    the blocks chose together (`cross_validate`)."""
    cats = categorical(cfg)
    y = dev.label.to_numpy()
    parts, logits, rounds = {}, [], {}
    for name, names in tried.items():
        encoder = Encoder.fit(dev.features, names, cats)
        cv = cross_validate(encoder, (dev.features, y, weights), block, params[name], forward)
        logits.append(cv.out_of_fold(encoder.transform(dev.features), block))
        booster = fit_booster(encoder, (dev.features, y, weights), None, params[name], cv.rounds)
        parts[name], rounds[name] = Part(encoder, booster), cv.rounds
    return CrossFit(parts, np.column_stack(logits), block, rounds)


def fit_deal_size(cfg: Config, dev: TrainingSet, names: list[str]) -> DealSize:
    """log(amount) ~ fit features on the leads of `dev` with a known amount; the median when
    too few; the config's `leads.deal_value` (else 1 a win) when the source has no amounts."""
    if not dev.has_amounts:
        if cfg.leads.deal_value is not None:
            return DealSize(cfg.leads.deal_value, basis="deal_value")
        return DealSize(1.0, basis="win")
    known = dev.amount.notna().to_numpy()
    won_amounts = dev.amount[dev.label == 1].dropna()
    default = float((won_amounts if len(won_amounts) else dev.amount.dropna()).median())
    stop = stop_rows(dev, known)
    if known.sum() < 60 or stop.sum() < 10:
        return DealSize(default)
    fit = known & ~stop
    encoder = Encoder.fit(dev.features[fit], names, categorical(cfg))
    log_amount = np.log(dev.amount.to_numpy(dtype=float, na_value=np.nan))
    booster = fit_booster(
        encoder,
        (dev.features[fit], log_amount[fit], None),
        (dev.features[stop], log_amount[stop], None),
        lightgbm_params(cfg, "regression") | {"min_data_in_leaf": 20},
    )
    return DealSize(default, Part(encoder, booster))


def probability_bound(leads: int) -> float:
    """How close to 0 (and to 1) the win probability of a model that learnt from `leads` leads
    may go: 1 / (leads + 2), Laplace's rule of succession for a group of that many leads none of
    which won. No history of n leads can show a lead's chance to be below that, so the runtime
    does not claim it (and an isotonic step over all-lost leads does not say 0)."""
    return 1.0 / (leads + 2)


def score_grid(logits: dict[str, np.ndarray]) -> dict[str, tuple[float, ...]]:
    """Per part, 101 quantiles of its out-of-fold logits: what a lead it has not seen beats."""
    grid = {}
    for name, values in logits.items():
        q = np.quantile(values, np.linspace(0, 1, 101))
        grid[name] = tuple(map(float, q + np.arange(len(q)) * 1e-9))  # strictly increasing
    return grid


def default_thresholds(expected_revenue: np.ndarray) -> Thresholds:
    mql, sql = np.quantile(expected_revenue, [DEFAULT_MQL_QUANTILE, DEFAULT_SQL_QUANTILE])
    return Thresholds(mql=float(mql), sql=float(max(sql, mql)), min_fit=0.0, source="default")


def recipe(crossed: CrossFit, chosen: str, forward: bool, found: Search) -> str:
    """How the registered boosters came about, in a sentence for the run and the output."""
    k = len(np.unique(crossed.block))
    how = "each block from the earlier ones" if forward else "each block from the others"
    rounds = ", ".join(f"{n} {r}" for n, r in crossed.rounds.items())
    return (
        f"{chosen}; cross-fitted over {k} blocks of the {len(crossed.block):,} development leads "
        f"in fold order, {how} ({found.summary()}); boosters refitted on all of them ({rounds} "
        "rounds)"
    )


def fit_scorer(
    cfg: Config,
    data: TrainingSet,
    isotonic: bool = True,
    search: bool = True,
    storage: optuna.storages.BaseStorage | None = None,
    stacked: list[str] | None = None,
) -> tuple[LeadScorer, dict[str, float]]:
    """Every fitted piece of the runtime model from the development leads (every fold but
    test), plus the calibration and recipe choice losses. With `search`, the boosters' settings
    come from `search_params` (its study kept in `storage` when given); otherwise the defaults.
    With `isotonic=False` the stacker alone calibrates; with `stacked`, it weighs those parts
    rather than the ones `choose_parts` picks. The metadata records the recipe, the
    search, the weighting used and why the recipe and the calibration were chosen."""
    dev = data.part(*DEV)
    basics = _basics(cfg, dev)
    _, weights, block = basics
    found = (
        search_params(cfg, dev, block, weights, storage, dev.timed)
        if search
        else defaults(cfg, len(dev.label))
    )
    return _fitted(cfg, data, dev, basics, found, stacked, isotonic)


def refit(cfg: Config, data: TrainingSet, evaluated: LeadScorer) -> LeadScorer:
    """The `evaluated` recipe fitted again on every labelled lead, test fold included: the same
    parts with the same booster settings; cross-fitting over all of them sets the rounds, the
    stacker and the calibration. Its quality is the held-out evaluation of `evaluated`."""
    basics = _basics(cfg, data)
    found = _recorded(evaluated)
    scorer, _ = _fitted(cfg, data, data, basics, found, stacked_parts(evaluated), isotonic=True)
    test = data.part("test")
    note = (
        f"refitted with the test fold ({len(data.label):,} labelled leads, {len(test.label):,} "
        "of them in the test fold) after the held-out evaluation, which its metrics are from"
    )
    meta = scorer.metadata | {"search": evaluated.metadata["search"], "refit": note}
    return dataclasses.replace(scorer, thresholds=evaluated.thresholds, metadata=meta)


def held_out_model(cfg: Config, data: TrainingSet, registered: LeadScorer) -> LeadScorer:
    """A model that has not seen the test fold, for replaying it: `registered` itself, or for a
    model refitted with the test fold its recipe fitted again on the development leads alone
    (the evaluated model, when the data has not changed since)."""
    if "refit" not in registered.metadata:
        return registered
    dev = data.part(*DEV)
    found = _recorded(registered)
    scorer, _ = _fitted(cfg, data, dev, _basics(cfg, dev), found, stacked_parts(registered), True)
    return dataclasses.replace(scorer, thresholds=registered.thresholds)


def stacked_parts(scorer: LeadScorer) -> list[str]:
    """The parts a scorer's stacker weighs (every part, for a model from before "stacked")."""
    return list(scorer.metadata.get("stacked", scorer.parts))


def _recorded(scorer: LeadScorer) -> Search:
    """The booster settings a scorer's metadata records, without their studies."""
    return Search({part: f["params"] for part, f in scorer.metadata["search"].items()}, {})


def _basics(cfg: Config, dev: TrainingSet) -> tuple[DealSize, np.ndarray, np.ndarray]:
    """The deal size, the training weights and the cross-fitting blocks of `dev`."""
    deal_names = groups(cfg).get("fit") or next(iter(groups(cfg).values()))
    deal = fit_deal_size(cfg, dev, deal_names)
    weights = revenue_weights(cfg, dev, deal.amount(dev.features))
    return deal, weights, blocks(dev, cfg.training.cross_folds)


def _fitted(
    cfg: Config,
    data: TrainingSet,
    dev: TrainingSet,
    basics: tuple[DealSize, np.ndarray, np.ndarray],
    found: Search,
    stacked: list[str] | None,
    isotonic: bool,
) -> tuple[LeadScorer, dict[str, float]]:
    """The scorer cross-fitted on `dev` (`basics`: its `_basics`) with the settings `found`:
    the stacker weighing the `stacked` parts given, or the ones `choose_parts` picks (a part
    the model keeps but does not stack has weight 0)."""
    deal, weights, block = basics
    kept = list(candidates(cfg)) if stacked is None else with_parts(stacked, list(candidates(cfg)))
    tried = {n: f for n, f in candidates(cfg).items() if n in kept}
    crossed = cross_fit(cfg, dev, weights, found.params, block, tried, dev.timed)
    held = ~np.isnan(crossed.logits).any(axis=1)  # chaining forward, the first block has none
    y = dev.label.to_numpy()[held]
    if stacked is None:
        stacked, recipe_losses, chosen = choose_parts(
            list(crossed.parts), crossed.logits[held], y, block[held]
        )
    else:
        recipe_losses, chosen = {}, f"{' + '.join(stacked)} stacked, as evaluated"
    names = with_parts(stacked, list(crossed.parts))
    logits = crossed.logits[held][:, [list(crossed.parts).index(n) for n in names]]
    inputs = logits[:, [names.index(n) for n in stacked]]
    bound = probability_bound(len(dev.label))
    auc = ranks_held_out_blocks(inputs, y, block[held])
    if auc > 0.5:
        calibration, losses, why = fit_calibration(
            inputs, y, block[held], bound, isotonic, cfg.training.bootstrap, cfg.training.seed
        )
    else:
        calibration, losses = base_rate(y, len(stacked), bound), {}
        chance = f"no better than chance (AUC {auc:.3f})"
        why = "base rate: the stack ranks the held-out blocks " + (
            "not at all: none has both wins and losses" if np.isnan(auc) else chance
        )
    calibration = weighing(calibration, stacked, names)
    p = calibration.probability(logits)
    scorer = LeadScorer(
        config=cfg,
        parts={n: crossed.parts[n] for n in names},
        calibration=calibration,
        score_grid=score_grid({n: logits[:, k] for k, n in enumerate(names) if n != JOINT}),
        deal_size=deal,
        thresholds=default_thresholds(p * deal.amount(dev.features[held])),
        metadata={
            "rounds": {n: crossed.rounds[n] for n in names},
            "stacked": list(stacked),
            "recipe": recipe(crossed, chosen, dev.timed, found),
            "recipe_losses": recipe_losses,
            "search": found.record(),
            "weighting": weighting_used(cfg, data),
            "calibration": why,
        },
    )
    return scorer, losses


def part_probability(scorer: LeadScorer, name: str, features: pd.DataFrame) -> np.ndarray:
    """A single part's own probability (uncalibrated), for comparing it alone."""
    return sigmoid(scorer.parts[name].raw(features))
