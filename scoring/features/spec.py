"""The feature list of a config: every feature's name, group (fit/intent), kind, business field
and the label reasons use. It comes from the config, never from the data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Literal

import numpy as np

from scoring.config import (
    CategoricalField,
    Config,
    DatePartField,
    FieldSpec,
    JobTitleField,
    NumericField,
    TagsField,
    TimestampField,
    slug,
)

Group = Literal["fit", "intent"]


Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class FeatureInfo:
    """One model feature: where it comes from and how to say it to a sales rep."""

    name: str
    group: Group
    kind: Kind
    field: str  # the business field it belongs to (config column or event type)
    label: str  # e.g. "Pricing page visits, last 7 days"


# ---------------------------------------------------------------- spec (from config alone)


def _band_labels(bands: Sequence[float]) -> list[str]:
    fmt = [_short_number(b) for b in bands]
    inner = [f"{lo}-{hi}" for lo, hi in pairwise(fmt)]
    return [f"<{fmt[0]}", *inner, f"{fmt[-1]}+"]


@lru_cache(maxsize=256)
def band_array(bands: tuple[float, ...]) -> np.ndarray:
    """Band labels then NaN (for a missing number), as the object array features index."""
    labels = np.array([*_band_labels(bands), np.nan], dtype=object)
    labels.flags.writeable = False
    return labels


def _short_number(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _field_spec(field: FieldSpec, group: Group) -> list[FeatureInfo]:
    name, label, col = field.base_name, field.business_label, field.column
    if isinstance(field, JobTitleField):
        return [
            FeatureInfo(f"{name}_seniority", group, "categorical", col, f"{label}: seniority"),
            FeatureInfo(
                f"{name}_seniority_rank", group, "numeric", col, f"{label}: seniority level"
            ),
            FeatureInfo(f"{name}_department", group, "categorical", col, f"{label}: department"),
        ]
    if isinstance(field, TagsField):
        out = []
        for group_name, tags in field.groups.items():
            out += [
                FeatureInfo(f"{name}_{slug(t)}", group, "numeric", col, f"{label}: {t}")
                for t in tags
            ]
            out.append(
                FeatureInfo(
                    f"{name}_{group_name}_count", group, "numeric", col, f"{label}: {group_name}"
                )
            )
        return out
    if isinstance(field, DatePartField):
        kinds = {"month": "categorical", "weekday": "categorical"}
        words = {"days_since": f"Days since {label.lower()}"}
        return [
            FeatureInfo(
                f"{name}_{part}",
                group,
                kinds.get(part, "numeric"),  # type: ignore[arg-type]
                col,
                words.get(part, f"{label}: {part.replace('_', ' ')}"),
            )
            for part in field.parts
        ]
    if isinstance(field, TimestampField):
        return [
            FeatureInfo(f"{name}_days_ago", group, "numeric", col, f"Days since {label.lower()}")
        ]
    if isinstance(field, CategoricalField):
        return [FeatureInfo(name, group, "categorical", col, label)]
    infos = [FeatureInfo(name, group, "numeric", col, label)]
    if isinstance(field, NumericField) and field.bands:
        infos.append(FeatureInfo(f"{name}_band", group, "categorical", col, f"{label} band"))
    return infos


def _event_spec(cfg: Config) -> list[FeatureInfo]:
    spec = cfg.events
    if spec is None:
        return []
    out = []
    for w in spec.windows_days:
        out.append(
            FeatureInfo(
                f"events_{w}d", "intent", "numeric", "engagement", f"Activities, last {w} days"
            )
        )
        for t in spec.types:
            words = t.replace("_", " ")
            out.append(FeatureInfo(f"{t}_{w}d", "intent", "numeric", t, f"{words}, last {w} days"))
    out += [
        FeatureInfo(
            "days_since_last_event", "intent", "numeric", "engagement", "Days since last activity"
        ),
        FeatureInfo(
            "days_since_first_event", "intent", "numeric", "engagement", "Days since first activity"
        ),
        FeatureInfo(
            "engagement_score", "intent", "numeric", "engagement", "Recent engagement (decayed)"
        ),
    ]
    if spec.hand_raise:
        for t in spec.hand_raise:
            out.append(
                FeatureInfo(f"{t}_ever", "intent", "numeric", t, f"Ever: {t.replace('_', ' ')}")
            )
        out += [
            FeatureInfo("hand_raises", "intent", "numeric", "hand_raise", "Hand-raises so far"),
            FeatureInfo(
                "days_since_hand_raise",
                "intent",
                "numeric",
                "hand_raise",
                "Days since last hand-raise",
            ),
        ]
    return out


_SPECS: dict[int, tuple[Config, tuple[FeatureInfo, ...]]] = {}


def feature_spec(cfg: Config) -> list[FeatureInfo]:
    """All features in output order; depends on the config only, never on data."""
    cached = _SPECS.get(id(cfg))
    if cached is None or cached[0] is not cfg:  # configs are frozen: one spec per object
        fit = [info for f in cfg.features.fit for info in _field_spec(f, "fit")]
        intent = [info for f in cfg.features.intent for info in _field_spec(f, "intent")]
        if len(_SPECS) > 256:
            _SPECS.clear()
        cached = _SPECS[id(cfg)] = (cfg, tuple(fit + intent + _event_spec(cfg)))
    return list(cached[1])


# ---------------------------------------------------------------- values
