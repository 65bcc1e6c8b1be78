"""The stacker over the parts' out-of-fold logits, and the calibration on top of it: which parts
it weighs (`choose_parts`), its weights (`stack`), whether it ranks at all
(`ranks_held_out_blocks`, else `base_rate`), and whether isotonic steps replace it
(`fit_calibration`). Every choice but one is judged on cross-fitting blocks the fitted piece
did not see: on few wins the joint booster stands alone by rule."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression

from scoring.model.scorer import Calibration, sigmoid
from scoring.monitoring.calibration import rank_auc
from training.pipeline.boosters import JOINT, log_losses
from training.pipeline.evaluate import bootstrap_mean_interval

# Wins the isotonic steps need, in the leads they are fitted on and in the block that judges
# them, before isotonic is considered: with fewer, its steps are noise.
MIN_ISOTONIC_WINS = 50
# How much the joint booster must lower the stacker's mean log loss to join it: less is noise
# that would cost every lead a third booster and its SHAP pass.
MIN_JOINT_GAIN = 1e-4
# Below this many wins among the leads the stacker learns from, the joint booster stands alone:
# there, choosing among stacks by their held-out log loss or ranking picks noise, and one booster
# over every feature ranks best (300-lead exports: crm-like 0.740 -> 0.762 over 36 windows, bank
# draws, 28 wins, 0.672 -> 0.699 over 20). With more wins the stack is worth its weights (bank
# draws of 450 leads, 41 wins: 0.703 for the stack, 0.673 for the joint booster alone; 600
# leads, 55 wins: 0.740 against 0.698), and a lower held-out loss of one booster alone was
# drift, not ranking (the bank in time order: 0.584 -> 0.516).
JOINT_ALONE_WINS = 35


def held_out_logits(logits: np.ndarray, y: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Each lead's stacked logit from the stacker fitted on the other blocks' leads."""
    z = np.empty(len(y))
    for j in np.unique(block):
        held = block == j
        weights = np.asarray(stack(logits[~held], y[~held], block[~held]))
        z[held] = weights[0] + logits[held] @ weights[1:]
    return z


def mean_loss(z: np.ndarray, y: np.ndarray) -> float:
    """Mean log loss of held-out stacked logits `z`."""
    return float(log_losses(y, np.clip(sigmoid(z), 1e-6, 1 - 1e-6)).mean())


def choose_parts(
    names: list[str], logits: np.ndarray, y: np.ndarray, block: np.ndarray
) -> tuple[list[str], dict[str, float], str]:
    """What the stacker weighs. Under `JOINT_ALONE_WINS` wins, the joint booster alone, unless
    alone it ranks the held-out blocks no better than chance where the stack does (the model
    would fall to the base rate). Otherwise by the out-of-block log loss: the fit + intent
    stack, or with the joint booster as a third input when that lowers the loss. The fit and
    intent boosters stay in the model whatever is stacked, for the two scores. Returns the
    stacked parts, each recipe's loss (all of them, for the record) and why."""
    own = [k for k, n in enumerate(names) if n != JOINT]
    label = " + ".join(names[k] for k in own)
    held = {label: held_out_logits(logits[:, own], y, block)}
    if len(own) == len(names):  # one feature group, or both without a challenger
        return [names[k] for k in own], {label: mean_loss(held[label], y)}, f"{label} model"
    held["fit + intent + joint"] = held_out_logits(logits, y, block)
    few = y.sum() < JOINT_ALONE_WINS
    if few:
        held["joint alone"] = held_out_logits(logits[:, [names.index(JOINT)]], y, block)
    losses = {recipe: mean_loss(z, y) for recipe, z in held.items()}
    two, three = losses[label], losses["fit + intent + joint"]
    figures = f"out-of-block log loss {three:.5f} with the joint booster against {two:.5f}"
    joins = three < two - MIN_JOINT_GAIN
    kept, chosen = ("fit + intent + joint", names) if joins else (label, [names[k] for k in own])
    if few:
        figures += f", {losses['joint alone']:.5f} for it alone"
        ranks = block_auc(held["joint alone"], y, block)
        if ranks > 0.5 or not block_auc(held[kept], y, block) > 0.5:
            wins = f"{int(y.sum())} held-out wins, under {JOINT_ALONE_WINS}"
            return [JOINT], losses, f"joint booster alone ({wins}): {figures}"
        figures += f"; alone it ranks the held-out blocks no better than chance ({ranks:.4f})"
    return chosen, losses, f"{kept} stack: {figures}"


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
    block on its leads (NaN when no block has both)."""
    return block_auc(held_out_logits(logits, y, block), y, block)


def block_auc(z: np.ndarray, y: np.ndarray, block: np.ndarray) -> float:
    """Mean ROC AUC of `z` within each block with both wins and losses (NaN when none has both).
    A small export can have a block without a win: its NaN once made the whole stack count as
    chance."""
    aucs = [rank_auc(y[block == j], z[block == j]) for j in np.unique(block)]
    judged = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(judged)) if judged else float("nan")


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


def weighing(calibration: Calibration, stacked: list[str], names: list[str]) -> Calibration:
    """`calibration` of the `stacked` logits over all the model's parts: 0 for the others."""
    weight = dict(zip(stacked, calibration.weights[1:], strict=True))
    weights = (calibration.weights[0], *(weight.get(n, 0.0) for n in names))
    return dataclasses.replace(calibration, weights=weights)
