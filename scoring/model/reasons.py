"""Reasons a sales rep can read: exact TreeSHAP of every part (the fit and intent models, and
the joint model when the recipe has one), carried through the combiner to the win probability,
grouped by business field, in probability points. A joint model's features go to their own
group, fit or intent; a part at stacker weight 0 (fit and intent beside a joint model that stands
alone) contributes nothing.

How the numbers are made (and why they add up):

1. LightGBM `pred_contrib` gives each feature's exact TreeSHAP value on the model's raw log-odds,
   plus the model's expected value, for the fit model and the intent model.
2. The combiner is a logistic stacker: combined logit z = w0 + w_fit * fit_logit +
   w_intent * intent_logit, so a feature moves z by its SHAP value times its model's weight.
   The baseline z0 is the same formula on the two expected values (the "average lead").
3. The final probability p = calibration(z) (sigmoid, optionally isotonic) is monotone in z, so
   the lead's whole move from the baseline probability p0 = calibration(z0) is shared out in
   proportion to each feature's share of z - z0: impact = contribution * (p - p0) / (z - z0).
   Signs are kept, and the impacts sum exactly to p - p0.
4. Features are grouped by the business field they come from (`FeatureInfo.field`: the job
   title's seniority, rank and department are one "Job title" reason; every pricing-page count
   is one "Pricing page" reason), and shown in points of win probability (1 pt = 1%).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.model.scorer import LeadScorer, n_rows, threads
from scoring.model.wording import Group, business_groups, money, pts, sentence


def _to_sql(scorer: LeadScorer, scores: Mapping[str, np.ndarray], i: int) -> dict | None:
    """What separates a lead below SQL from the SQL cut-off (None for SQL leads)."""
    if scores["stage"][i] == "sql":
        return None
    t = scorer.thresholds
    p = float(scores["win_probability"][i])
    value = float(scores["expected_revenue"][i])
    fit = float(scores["fit_score"][i])
    deal = value / p if p > 0 else float("nan")
    needed = min(t.sql / deal, 1.0) if deal == deal and deal > 0 else float("nan")
    gap = {
        "expected_revenue_gap": round(max(t.sql - value, 0.0), 2),
        "win_probability_needed": round(needed, 4),
        "points_needed": round(max(needed - p, 0.0) * 100, 1),
    }
    if value >= t.sql and fit == fit and fit < t.min_fit:
        text = f"Fit score {fit:.0f} is below the minimum of {t.min_fit:.0f} for a handoff"
    else:
        text = (
            f"{gap['points_needed']:.1f} pts of win probability short of SQL (expected revenue "
            f"{money(value)} vs the SQL cut-off of {money(t.sql)})"
        )
    return gap | {"text": text}


MIN_IMPACT = 0.05  # points: smaller moves are left out of the top reasons (still in `impacts`)


@dataclass(frozen=True)
class _Layout:
    """Where each model's features land: columns of the joint contribution matrix, groups."""

    groups: list[Group]
    columns: list[np.ndarray]  # per part: its features' columns in the joint matrix
    group_columns: list[np.ndarray]  # per group: its columns in the joint matrix
    group_features: list[np.ndarray]  # per group: index in group.features of each column
    names: list[str]
    used: np.ndarray  # groups with at least one column
    order: np.ndarray  # columns, group by group (used groups)
    starts: np.ndarray  # where each used group starts in `order`
    lengths: np.ndarray  # its number of columns
    feature_of: np.ndarray  # per position in `order`: index in its group's features


_LAYOUTS: dict[int, tuple[LeadScorer, _Layout]] = {}


def _layout(scorer: LeadScorer) -> _Layout:
    cached = _LAYOUTS.get(id(scorer))
    if cached is not None and cached[0] is scorer:
        return cached[1]
    groups = business_groups(scorer)
    where = {
        info.name: (g, k) for g, group in enumerate(groups) for k, info in enumerate(group.features)
    }
    names = [name for part in scorer.parts.values() for name in part.encoder.names]
    columns, start = [], 0
    for part in scorer.parts.values():
        columns.append(np.arange(start, start + len(part.encoder.names)))
        start += len(part.encoder.names)
    group_columns = [[] for _ in groups]
    group_features = [[] for _ in groups]
    for j, name in enumerate(names):
        g, k = where[name]
        group_columns[g].append(j)
        group_features[g].append(k)
    used = [g for g, cols in enumerate(group_columns) if cols]
    lengths = np.array([len(group_columns[g]) for g in used], dtype=np.intp)
    layout = _Layout(
        groups,
        columns,
        [np.array(c, dtype=np.intp) for c in group_columns],
        [np.array(k, dtype=np.intp) for k in group_features],
        names,
        np.array(used, dtype=np.intp),
        np.array([c for g in used for c in group_columns[g]], dtype=np.intp),
        np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp),
        lengths,
        np.array([k for g in used for k in group_features[g]], dtype=np.intp),
    )
    if len(_LAYOUTS) > 16:
        _LAYOUTS.clear()
    _LAYOUTS[id(scorer)] = (scorer, layout)
    return layout


@dataclass(frozen=True)
class Contributions:
    """Per lead and business field (`groups` order): `points`, the move of the win probability
    in points (each row sums exactly to 100 * (p - baseline)); `top`, the position in the
    field's features of the one that moved it most. `baseline`: the average lead's win
    probability; `logits`: each model's raw score (the row sums of its SHAP values)."""

    points: np.ndarray
    baseline: np.ndarray
    top: np.ndarray
    logits: dict[str, np.ndarray]


def contributions(
    scorer: LeadScorer, features: pd.DataFrame | Mapping[str, np.ndarray]
) -> Contributions:
    """Exact TreeSHAP of every part carried to the win probability, grouped by field."""
    layout = _layout(scorer)
    n = n_rows(features)
    weights = np.asarray(scorer.calibration.weights)
    joint = np.empty((n, len(layout.names)))
    stacked, base = [], []
    for k, part in enumerate(scorer.parts.values()):
        x = part.encoder.transform(features)
        contrib = part.booster.predict(x, pred_contrib=True, num_threads=threads(n))
        joint[:, layout.columns[k]] = weights[1 + k] * contrib[:, :-1]
        stacked.append(contrib.sum(axis=1))
        base.append(contrib[:, -1])
    calibration = scorer.calibration
    logits, base_logits = np.column_stack(stacked), np.column_stack(base)
    p = calibration.probability(logits)
    p0 = calibration.probability(base_logits)
    z, z0 = np.zeros(n), np.zeros(n)
    for k in range(logits.shape[1]):  # elementwise, so a lead gets the same bits in any batch
        z, z0 = z + logits[:, k] * weights[1 + k], z0 + base_logits[:, k] * weights[1 + k]
    moved = np.abs(z - z0) > 1e-12
    ratio = np.where(moved, (p - p0) / np.where(moved, z - z0, 1.0), p * (1 - p))
    ordered = joint[:, layout.order]
    grouped = np.zeros((n, len(layout.groups)))
    grouped[:, layout.used] = np.add.reduceat(ordered, layout.starts, axis=1)
    # the feature that moved each field most: a segment argmax over the group-ordered columns
    magnitude = np.abs(ordered)
    largest = np.maximum.reduceat(magnitude, layout.starts, axis=1)
    is_largest = magnitude >= np.repeat(largest, layout.lengths, axis=1)
    position = -np.arange(len(layout.order))
    first = -np.maximum.reduceat(np.where(is_largest, position, -len(position)), layout.starts, 1)
    top = np.zeros((n, len(layout.groups)), dtype=np.intp)
    top[:, layout.used] = layout.feature_of[first]
    parts = dict(zip(scorer.parts, stacked, strict=True))
    return Contributions(100 * grouped * ratio[:, None], p0, top, parts)


def explain(
    scorer: LeadScorer,
    features: pd.DataFrame | Mapping[str, np.ndarray],
    top: int = 3,
    scores: Mapping[str, np.ndarray] | None = None,
) -> list[dict]:
    """Reasons for each lead (rows of `features`, a frame from `build_features` or the arrays of
    `feature_arrays`), in row order. Each lead gets:

    - `baseline_probability`: the win probability of the average training lead;
    - `positive` / `negative`: up to `top` reasons raising / lowering the win probability, biggest
      first; a reason is {field, label, model ("fit" or "intent"), impact (points of win
      probability), text ("Visited the pricing page 3 times in the last 7 days: +9.1 pts")};
    - `fit` / `intent`: up to `top` reasons of that model alone, by size of impact;
    - `impacts`: every business field's impact in points (they sum to 100 * (p - baseline));
    - `to_sql`: for a lead below SQL, the gap to the SQL cut-off, else None.

    Reasons moving the probability by less than 0.05 pts are left out of the lists.
    `scores` (the output of `scorer.score_arrays(features)`) saves recomputing them.
    """
    return scores_and_reasons(scorer, features, top, scores)[1]


def scores_and_reasons(
    scorer: LeadScorer,
    features: pd.DataFrame | Mapping[str, np.ndarray],
    top: int = 3,
    scores: Mapping[str, np.ndarray] | None = None,
) -> tuple[Mapping[str, np.ndarray], list[dict]]:
    """`scorer.score_arrays(features)` and `explain(...)` together. The scores are the models'
    own predictions (SHAP row sums equal them only to ~1e-15), so they are identical to batch."""
    found = contributions(scorer, features)
    if scores is None:
        scores = scorer.score_arrays(features)
    layout = _layout(scorer)
    groups = layout.groups
    impacts, p0, top_feature = found.points, found.baseline, found.top
    values = {name: np.asarray(features[name]) for name in layout.names}
    used = [g for g, cols in enumerate(layout.group_columns) if len(cols)]
    out = []
    for i, row_impacts in enumerate(impacts.tolist()):
        order = sorted(used, key=lambda g: -abs(row_impacts[g]))
        shown = [g for g in order if abs(row_impacts[g]) >= MIN_IMPACT]
        picks = {
            "positive": [g for g in shown if row_impacts[g] > 0][:top],
            "negative": [g for g in shown if row_impacts[g] < 0][:top],
            "fit": [g for g in shown if groups[g].model == "fit"][:top],
            "intent": [g for g in shown if groups[g].model == "intent"][:top],
        }
        needed = {g for gs in picks.values() for g in gs}
        row = {f.name: values[f.name][i] for g in needed for f in groups[g].features}
        reasons = {
            g: _reason(scorer, groups[g], top_feature[i, g], row_impacts[g], row) for g in needed
        }
        out.append(
            {"baseline_probability": round(float(p0[i]), 6)}
            | {key: [reasons[g] for g in gs] for key, gs in picks.items()}
            | {
                "impacts": {groups[g].field: round(row_impacts[g], 4) for g in used},
                "to_sql": _to_sql(scorer, scores, i),
            }
        )
    return scores, out


def _reason(scorer: LeadScorer, group: Group, k: int, impact: float, row: dict) -> dict:
    info = group.features[k]
    text = sentence(group, info, row[info.name], row, scorer.config)
    return {
        "field": group.field,
        "label": group.label,
        "model": group.model,
        "impact": round(float(impact), 2),
        "text": f"{text}: {pts(impact)}",
    }
