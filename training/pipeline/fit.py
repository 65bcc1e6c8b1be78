"""Fit the fit and intent models (LightGBM, revenue-weighted), the joint challenger, the stacker
and calibration, and the expected deal size; assemble the runtime `LeadScorer`.

Cross-fitting: the development leads (every fold but test) are cut into `training.cross_folds`
blocks in fold order. Each block's logits come from boosters fitted on the earlier blocks when
the order is time, on all the other blocks otherwise; the stacker and the calibration learn
from those out-of-fold logits, so no lead is spent on calibration alone. The boosters of all
blocks stop together, at the round where the held-out blocks' mean log loss stops falling; the
registered boosters are then refitted on all development leads for that many rounds. The joint
booster (all features) joins the fit + intent stack when that lowers the stacker's out-of-block
log loss, or, on fewer than `JOINT_ALONE_WINS` wins, may replace it (`choose_parts`). `refit`
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
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression

from scoring.config import Config
from scoring.model.scorer import (
    Calibration,
    DealSize,
    Encoder,
    LeadScorer,
    Part,
    Thresholds,
    sigmoid,
)
from scoring.monitoring.calibration import rank_auc
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
    log_losses,
    stop_rows,
)
from training.pipeline.dataset import TrainingSet, revenue_weights, weighting_used
from training.pipeline.evaluate import bootstrap_mean_interval
from training.pipeline.search import Search, defaults, search_params

# Quantiles of the out-of-fold expected revenue used as cut-offs until the threshold study runs.
DEFAULT_MQL_QUANTILE, DEFAULT_SQL_QUANTILE = 0.70, 0.90
# Wins the isotonic steps need, in the leads they are fitted on and in the block that judges
# them, before isotonic is considered: with fewer, its steps are noise.
MIN_ISOTONIC_WINS = 50
# How much the joint booster must lower the stacker's mean log loss to join it: less is noise
# that would cost every lead a third booster and its SHAP pass.
MIN_JOINT_GAIN = 1e-4
# Below this many wins among the leads the stacker learns from, the joint booster may stand alone:
# there, three stacker weights fitted on a few dozen wins cost more than the fit and intent
# logits add. With more wins three weights are not noise, and a lower held-out log loss of one
# booster alone was drift, not ranking (the bank in time order: 0.584 -> 0.516 on a window).
JOINT_ALONE_WINS = 50


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


def held_out_logits(logits: np.ndarray, y: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Each lead's stacked logit from the stacker fitted on the other blocks' leads."""
    z = np.empty(len(y))
    for j in np.unique(block):
        held = block == j
        weights = np.asarray(stack(logits[~held], y[~held], block[~held]))
        z[held] = weights[0] + logits[held] @ weights[1:]
    return z


def stacker_losses(logits: np.ndarray, y: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Each lead's log loss under the stacker fitted on the other blocks' leads."""
    return log_losses(y, np.clip(sigmoid(held_out_logits(logits, y, block)), 1e-6, 1 - 1e-6))


def choose_parts(
    names: list[str], logits: np.ndarray, y: np.ndarray, block: np.ndarray
) -> tuple[list[str], dict[str, float], str]:
    """What the stacker weighs. By its out-of-block log loss: the fit + intent stack, or with
    the joint booster as a third input when that lowers the loss. Under `JOINT_ALONE_WINS`
    wins, the joint booster alone replaces that stack when its loss is below the two's and no
    more than `MIN_JOINT_GAIN` above the three's, and it ranks the held-out blocks at least as
    well as the stack it replaces (a lower log loss alone can be a level that follows drift).
    The fit and intent boosters stay in the model whatever is stacked, for the two scores.
    Returns the stacked parts, each recipe's loss and why."""
    own = [k for k, n in enumerate(names) if n != JOINT]
    two = float(stacker_losses(logits[:, own], y, block).mean())
    label = " + ".join(names[k] for k in own)
    losses = {label: two}
    if len(own) == len(names):  # one feature group, or both without a challenger
        return [names[k] for k in own], losses, f"{label} model"
    three = float(stacker_losses(logits, y, block).mean())
    losses["fit + intent + joint"] = three
    kept = list(range(len(names))) if three < two - MIN_JOINT_GAIN else own
    chosen = [names[k] for k in kept]
    figures = f"out-of-block log loss {three:.5f} with the joint booster against {two:.5f}"
    if y.sum() < JOINT_ALONE_WINS:
        joint = [names.index(JOINT)]
        alone = losses["joint alone"] = float(stacker_losses(logits[:, joint], y, block).mean())
        figures += f", {alone:.5f} for it alone"
        if alone < two - MIN_JOINT_GAIN and alone <= three + MIN_JOINT_GAIN:
            ranks, replaced = (ranks_held_out_blocks(logits[:, k], y, block) for k in (joint, kept))
            figures += f"; held-out blocks' AUC {ranks:.4f} for it alone against {replaced:.4f}"
            if ranks >= replaced:
                return [JOINT], losses, f"joint booster alone: {figures}"
    return chosen, losses, f"{' + '.join(chosen)} stack: {figures}"


def with_parts(stacked: list[str], names: list[str]) -> list[str]:
    """The parts a model keeps: the `stacked` ones and the fit and intent boosters (their
    scores), in the order of `names`."""
    return [n for n in names if n in stacked or n != JOINT]


def base_rate(y: np.ndarray, parts: int, bound: float) -> Calibration:
    """Every lead at the base rate: the calibration of a stack that ranks no better than chance
    (on the Maven export one gave a noise logit weight 0.8, and ECE 0.057)."""
    rate = float(np.clip(y.mean(), bound, 1 - bound))
    return Calibration((float(np.log(rate / (1 - rate))), *[0.0] * parts), "sigmoid", bound=bound)


def ranks_held_out_blocks(logits: np.ndarray, y: np.ndarray, block: np.ndarray) -> float:
    """Mean ROC AUC, over the blocks with both wins and losses, of the stack fitted without the
    block on its leads (NaN when no block has both). A small export can have a block without a
    win: its NaN once made the whole stack count as chance."""
    z = held_out_logits(logits, y, block)
    aucs = [rank_auc(y[block == j], z[block == j]) for j in np.unique(block)]
    judged = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(judged)) if judged else float("nan")


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


def isotonic_on(sig: Calibration, x_cal: np.ndarray, y_cal: np.ndarray) -> Calibration:
    """Isotonic steps over the stacker's probabilities on the calibration fold."""
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(sig.probability(x_cal), y_cal)
    return Calibration(
        sig.weights,
        "isotonic",
        tuple(map(float, iso.X_thresholds_)),
        tuple(map(float, iso.y_thresholds_)),
        sig.bound,
    )


def isotonic_verdict(
    wins: tuple[int, int], gain: np.ndarray, resamples: int, seed: int
) -> tuple[bool, str]:
    """Whether isotonic replaces the stacker, and why. `wins`: wins of the development leads
    and of the block with the fewest; `gain`: each lead's log loss under sigmoid minus under
    isotonic steps fitted without its block. Isotonic is chosen only when both counts reach
    `MIN_ISOTONIC_WINS` and its mean gain is above 0 at the low end of the 95% paired-bootstrap
    interval: a lower mean log loss alone is often noise, and isotonic steps are the likelier
    to be overfitted."""
    if min(wins) < MIN_ISOTONIC_WINS:
        return False, (
            f"sigmoid: isotonic needs {MIN_ISOTONIC_WINS} wins in the out-of-fold leads and in "
            f"each cross-fitting block, found {wins[0]} and {wins[1]} at the fewest"
        )
    lo, hi = bootstrap_mean_interval(gain, resamples, seed)
    interval = f"{gain.mean():+.5f} (95% interval {lo:+.5f} to {hi:+.5f})"
    if gain.mean() <= 0:
        return False, f"sigmoid: isotonic does not lower out-of-block log loss ({interval})"
    if lo <= 0:
        return False, f"sigmoid: isotonic's out-of-block log-loss gain {interval} is within noise"
    return True, f"isotonic: lowers out-of-block log loss by {interval}"


def stack(
    logits: np.ndarray, y: np.ndarray, block: np.ndarray | None = None, c: float = 10.0
) -> tuple[float, ...]:
    """Logistic stacker weights (intercept, then one per part), each part's weight at least 0:
    a part's logit may count for a lead or not at all, never against it. L2 on the part weights
    as LogisticRegression(C=c).

    With `block`, the weights are fitted with an intercept per block, then the one intercept
    with the weights fixed: the weights measure how well each part ranks leads within a period,
    not how its level follows the base rate from one period to the next. (On drifting data the
    out-of-fold logits of one period's boosters anti-correlated with another period's base rate;
    a pooled stacker then gave the best part no weight.)"""
    index = (
        np.zeros(len(y), dtype=int) if block is None else np.unique(block, return_inverse=True)[1]
    )
    groups_ = int(index.max()) + 1 if len(y) else 1
    parts = logits.shape[1]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = w[:groups_][index] + logits @ w[groups_:]
        grad_z = sigmoid(z) - y
        nll = np.logaddexp(0, z).sum() - (y * z).sum()
        grad = np.concatenate(
            [np.bincount(index, grad_z, groups_), logits.T @ grad_z + w[groups_:] / c]
        )
        return nll + (w[groups_:] ** 2).sum() / (2 * c), grad

    bounds = [(None, None)] * groups_ + [(0.0, None)] * parts
    found = minimize(loss, np.zeros(groups_ + parts), jac=True, method="L-BFGS-B", bounds=bounds)
    weights = found.x[groups_:]
    if groups_ == 1:
        return tuple(map(float, found.x))
    offset = logits @ weights

    def pooled(b: np.ndarray) -> tuple[float, np.ndarray]:
        z = b[0] + offset
        return np.logaddexp(0, z).sum() - (y * z).sum(), np.array([(sigmoid(z) - y).sum()])

    intercept = minimize(pooled, np.zeros(1), jac=True, method="L-BFGS-B").x[0]
    return (float(intercept), *map(float, weights))


def fit_calibration(
    logits: np.ndarray,
    y: np.ndarray,
    block: np.ndarray,
    bound: float,
    isotonic: bool = True,
    resamples: int = 300,
    seed: int = 0,
) -> tuple[Calibration, dict[str, float], str]:
    """Logistic stacker on the out-of-fold part logits (unweighted, so probabilities are per
    lead, not per dollar), kept within [bound, 1 - bound]; isotonic on top only when
    `isotonic_verdict` says so, judging steps fitted on the other blocks on each block. Returns
    the calibration, the log loss of each method and why it was chosen."""
    sig = Calibration(stack(logits, y, block), "sigmoid", bound=bound)
    if not isotonic:
        return sig, {}, "sigmoid: the stacker alone (isotonic not considered)"
    loss_sig = log_losses(y, sig.probability(logits))
    loss_iso = np.empty(len(y))
    for j in np.unique(block):
        held = block == j
        steps = isotonic_on(sig, logits[~held], y[~held])
        loss_iso[held] = log_losses(y[held], steps.probability(logits[held]))
    wins = (int(y.sum()), int(min(y[block == j].sum() for j in np.unique(block))))
    chosen, why = isotonic_verdict(wins, loss_sig - loss_iso, resamples, seed)
    losses = {"sigmoid": float(loss_sig.mean()), "isotonic": float(loss_iso.mean())}
    return (isotonic_on(sig, logits, y) if chosen else sig), losses, why


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
    tried = {
        n: f for n, f in candidates(cfg).items() if stacked is None or n in stacked or n != JOINT
    }
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
    calibration = _weighing(calibration, stacked, names)
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


def _weighing(calibration: Calibration, stacked: list[str], names: list[str]) -> Calibration:
    """`calibration` of the `stacked` logits over all the model's parts: 0 for the others."""
    weight = dict(zip(stacked, calibration.weights[1:], strict=True))
    weights = (calibration.weights[0], *(weight.get(n, 0.0) for n in names))
    return dataclasses.replace(calibration, weights=weights)


def part_probability(scorer: LeadScorer, name: str, features: pd.DataFrame) -> np.ndarray:
    """A single part's own probability (uncalibrated), for comparing it alone."""
    return sigmoid(scorer.parts[name].raw(features))
