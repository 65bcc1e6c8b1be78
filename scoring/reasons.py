"""Reasons a sales rep can read: exact TreeSHAP of both models, carried through the combiner to
the win probability, grouped by business field, in probability points.

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

from scoring.config import Config
from scoring.features import FeatureInfo
from scoring.model import LeadScorer, n_rows, threads

# Event types a CRM commonly logs: (what the lead did, plural noun when it did not).
_EVENT_WORDS: dict[str, tuple[str, str]] = {
    "pricing_page": ("Visited the pricing page", "pricing page visits"),
    "demo_request": ("Requested a demo", "demo requests"),
    "contact_form": ("Filled in the contact form", "contact form requests"),
    "trial_signup": ("Signed up for a trial", "trial sign-ups"),
    "webinar": ("Attended a webinar", "webinars attended"),
    "web_visit": ("Visited the website", "website visits"),
    "email_open": ("Opened a marketing email", "email opens"),
    "email_click": ("Clicked a marketing email", "email clicks"),
    "competitor_comparison": ("Read a competitor comparison", "competitor comparisons read"),
    "content_download": ("Downloaded content", "content downloads"),
}


@dataclass(frozen=True)
class _Group:
    field: str  # business field: a config column, an event type, "engagement" or "hand_raise"
    model: str  # "fit" or "intent"
    label: str
    kind: str  # the config field's kind, or "event" / "engagement" / "hand_raise"
    features: tuple[FeatureInfo, ...]


def _groups(scorer: LeadScorer) -> list[_Group]:
    """Business fields in spec order, each with its features and a readable name."""
    cfg = scorer.config
    labels = {f.column: f.business_label for f in (*cfg.features.fit, *cfg.features.intent)}
    labels |= {"engagement": "Overall engagement", "hand_raise": "Hand-raises"}
    kinds = {f.column: f.kind for f in (*cfg.features.fit, *cfg.features.intent)}
    kinds |= {"engagement": "engagement", "hand_raise": "hand_raise"}
    grouped: dict[tuple[str, str], list[FeatureInfo]] = {}
    for info in scorer.spec:
        grouped.setdefault((info.field, info.group), []).append(info)
    return [
        _Group(
            field,
            model,
            labels.get(field, field.replace("_", " ").capitalize()),
            kinds.get(field, "event"),
            tuple(fs),
        )
        for (field, model), fs in grouped.items()
    ]


def _number(value: float) -> str:
    if value != value:
        return "unknown"
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.3g}M"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _times(n: float) -> str:
    n = int(n)
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _days(value: float) -> str:
    if value != value:
        return "never"
    if value < 1:
        return "less than a day ago"
    days = int(value)
    return "1 day ago" if days == 1 else f"{days} days ago"


def _event_sentence(info: FeatureInfo, value: float, cfg: Config) -> str:
    """e.g. "Visited the pricing page 3 times in the last 7 days"."""
    t = info.field
    verb, noun = _EVENT_WORDS.get(t, (f"{t.replace('_', ' ').capitalize()}:", t.replace("_", " ")))
    if info.name == f"{t}_ever":
        return f"{verb} (so far)" if value >= 1 else f"No {noun} so far"
    window = info.name.removeprefix(f"{t}_").removesuffix("d")
    if value != value or value == 0:
        return f"No {noun} in the last {window} days"
    if verb.endswith(":"):
        return f"{verb} {int(value)} in the last {window} days"
    return f"{verb} {_times(value)} in the last {window} days"


def _engagement_sentence(info: FeatureInfo, value: float) -> str:
    name = info.name
    if name.startswith("events_"):
        n, window = int(value), name.removeprefix("events_").removesuffix("d")
        return f"{n} activit{'y' if n == 1 else 'ies'} in the last {window} days"
    if name == "days_since_last_event":
        return "No activity yet" if value != value else f"Last activity {_days(value)}"
    if name == "days_since_first_event":
        return "No activity yet" if value != value else f"First activity {_days(value)}"
    if name == "hand_raises":
        n = int(value)
        return "No hand-raise yet" if n == 0 else f"{n} hand-raise{'s' if n > 1 else ''} so far"
    if name == "days_since_hand_raise":
        return "No hand-raise yet" if value != value else f"Last hand-raise {_days(value)}"
    if name == "engagement_score":
        return f"Engagement score {_number(value)} (recent activity counts most)"
    return f"{info.label}: {_number(value)}"


_WORDS = {"revops": "RevOps", "c_level": "C-level", "vp": "VP", "it": "IT", "hr": "HR"}


def _category(value: object) -> str:
    """A category as people write it: "software" -> "Software", "emea" -> "EMEA"."""
    if not isinstance(value, str):
        return "unknown"
    if value in _WORDS:
        return _WORDS[value]
    words = value.replace("_", " ")
    return words.upper() if len(words) <= 3 or words == "emea" else words[0].upper() + words[1:]


def _field_sentence(group: _Group, info: FeatureInfo, value: object, row: dict) -> str:
    """A config field's value in words, e.g. "Industry: software", "Title: VP, sales"."""
    label, kind = group.label, group.kind
    if kind == "job_title":
        seniority = row.get(group.features[0].name)
        department = row.get(group.features[-1].name)
        if seniority in (None, "unknown") and department in (None, "unknown"):
            return f"{label}: not recognised"
        return f"{label}: {_category(seniority)}, {_category(department)}"
    if kind == "tags":
        present = [
            f.label.split(": ", 1)[1]
            for f in group.features
            if not f.name.endswith("_count") and _flag(row.get(f.name))
        ]
        if info.name.endswith("_count") or not present:
            what = ", ".join(present) if present else "none of the tracked tools"
            return f"{label}: {what}"
        tag = info.label.split(": ", 1)[1]
        return f"{label} includes {tag}" if _flag(value) else f"{label} lacks {tag}"
    if info.kind == "categorical" and info.name.endswith("_band"):
        return f"{label}: {_category(value)}"
    if info.kind == "categorical":
        return f"{label}: {_category(value)}"
    number = float(value)  # type: ignore[arg-type]
    if kind == "timestamp":
        return f"{label}: {_days(number)}"
    if kind == "boolean":
        return f"{label}: {'unknown' if number != number else 'yes' if number else 'no'}"
    return f"{label}: {_number(number)}"


def _flag(value: object) -> bool:
    return isinstance(value, float | int) and value == value and value >= 1


def _sentence(group: _Group, info: FeatureInfo, value: object, row: dict, cfg: Config) -> str:
    if group.field in ("engagement", "hand_raise"):
        return _engagement_sentence(info, float(value))  # type: ignore[arg-type]
    if group.kind == "event":
        return _event_sentence(info, float(value), cfg)  # type: ignore[arg-type]
    return _field_sentence(group, info, value, row)


def _pts(value: float) -> str:
    return f"{value:+.1f} pts"


def _money(value: float) -> str:
    return f"{value:,.0f}"


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
            f"{_money(value)} vs the SQL cut-off of {_money(t.sql)})"
        )
    return gap | {"text": text}


MIN_IMPACT = 0.05  # points: smaller moves are left out of the top reasons (still in `impacts`)


@dataclass(frozen=True)
class _Layout:
    """Where each model's features land: columns of the joint contribution matrix, groups."""

    groups: list[_Group]
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
    groups = _groups(scorer)
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
    """Exact TreeSHAP of both models carried to the win probability, grouped by field."""
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


def _reason(scorer: LeadScorer, group: _Group, k: int, impact: float, row: dict) -> dict:
    info = group.features[k]
    text = _sentence(group, info, row[info.name], row, scorer.config)
    return {
        "field": group.field,
        "label": group.label,
        "model": group.model,
        "impact": round(float(impact), 2),
        "text": f"{text}: {_pts(impact)}",
    }
