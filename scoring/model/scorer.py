"""The lead-scoring runtime: features -> fit and intent scores, win probability, expected revenue,
stage. What training registers, the service and batch jobs load: no scikit-learn, no pandas on
the per-lead arithmetic, just arrays, LightGBM boosters and a few stored numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.config import Config
from scoring.data.arrays import lookup
from scoring.features import FeatureInfo, feature_spec
from scoring.settings import settings

STAGES = ("nurture", "mql", "sql")
# 3: the calibration bounds its probabilities and the deal size says what its amount is
# (2: thresholds on expected revenue; 1: on win probability). Format 2 files still load.
_FORMAT = 3
_READABLE = (2, 3)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


_GRADE_CUTS = np.array([25.0, 50.0, 75.0])


def grade(fit_score: np.ndarray, intent_score: np.ndarray) -> np.ndarray:
    """Fit x intent grade, "A1" best .. "D4" worst: fit letter A-D (>=75 A, >=50 B, >=25 C,
    else D), intent digit 1-4 (>=75 1, >=50 2, >=25 3, else 4); a missing part is left out."""
    fit = np.asarray(fit_score, dtype=np.float64)
    intent = np.asarray(intent_score, dtype=np.float64)
    letters = np.array(list("DCBA"))[np.searchsorted(_GRADE_CUTS, np.nan_to_num(fit), "right")]
    digits = np.array(list("4321"))[np.searchsorted(_GRADE_CUTS, np.nan_to_num(intent), "right")]
    letters = np.where(np.isnan(fit), "", letters)
    digits = np.where(np.isnan(intent), "", digits)
    return np.char.add(letters, digits).astype(object)


def threads(rows: int) -> int:
    """LightGBM threads for a prediction: one for a few rows (OpenMP start-up costs more than
    the trees, and far more on a busy machine), every core for a table. Always explicit, because
    LightGBM keeps the last setting for the calling thread. `LEADSCORE_THREADS` caps it (batch
    rescoring's worker processes run one thread each: the pool is the parallelism)."""
    if rows < 256:
        return 1  # before the look-ups below: they cost more than a one-row prediction
    return cores()


def cores() -> int:
    """LightGBM threads for a table of leads or a training: `LEADSCORE_THREADS`, else every core."""
    return settings().threads or os.cpu_count() or 1


@dataclass(frozen=True)
class Encoder:
    """Feature frame -> float matrix; categories frozen at training, unknown ones become NaN."""

    names: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]

    @classmethod
    def fit(cls, frame: pd.DataFrame, names: list[str], categorical: set[str]) -> Encoder:
        cats = {
            n: tuple(sorted(frame[n].dropna().astype(str).unique()))
            for n in names
            if n in categorical
        }
        return cls(tuple(names), cats)

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, n in enumerate(self.names) if n in self.categories]

    @cached_property
    def _codes(self) -> dict[str, dict[str, int]]:
        return {n: {c: i for i, c in enumerate(cats)} for n, cats in self.categories.items()}

    @cached_property
    def _numeric(self) -> tuple[np.ndarray, list[str]]:
        names = [n for n in self.names if n not in self.categories]
        return np.array([self.names.index(n) for n in names], dtype=np.intp), names

    def transform(self, frame: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """A frame, or feature arrays by name (`scoring.features.feature_arrays`): no pandas on
        the per-row path, so one lead costs microseconds."""
        out = np.empty((n_rows(frame), len(self.names)), dtype=np.float64)
        for i, name in enumerate(self.names):
            if name in self.categories:
                out[:, i] = lookup(np.asarray(frame[name]), self._codes[name], np.nan, float)
        where, numeric = self._numeric
        if isinstance(frame, pd.DataFrame):
            for i, name in zip(where, numeric, strict=True):
                out[:, i] = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        elif numeric:
            out[:, where] = np.array([frame[name] for name in numeric], dtype=np.float64).T
        return out


def n_rows(frame: pd.DataFrame | Mapping[str, np.ndarray]) -> int:
    """Rows of a frame or of feature arrays by name."""
    if isinstance(frame, pd.DataFrame):
        return len(frame)
    return len(next(iter(frame.values()))) if frame else 0


@dataclass(frozen=True)
class Part:
    """One LightGBM model over a group of features."""

    encoder: Encoder
    booster: lgb.Booster

    def raw(self, frame: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        x = self.encoder.transform(frame)
        return self.booster.predict(x, raw_score=True, num_threads=threads(len(x)))


@dataclass(frozen=True)
class Calibration:
    """Combined logit -> probability: a logistic stacker then an optional isotonic map, the
    result kept within [bound, 1 - bound].

    The bound is never 0: no closed history shows that a lead cannot win (or cannot lose), and an
    isotonic step over a block of all-lost leads would otherwise say exactly 0. Training sets it
    from how many leads the model learnt from, 1 / (n + 2) (`training.pipeline.fit
    .probability_bound`); scorers saved before it existed (format 2) get 1e-4."""

    weights: tuple[float, ...]  # intercept, then one weight per part logit, in parts order
    method: str  # "sigmoid" (stacker only) or "isotonic"
    iso_x: tuple[float, ...] = ()
    iso_y: tuple[float, ...] = ()
    bound: float = 1e-4

    def probability(self, logits: np.ndarray) -> np.ndarray:
        w = np.asarray(self.weights)
        z = np.full(len(logits), w[0])
        for k in range(logits.shape[1]):  # not a matrix product: the same bits for any row count
            z = z + logits[:, k] * w[1 + k]
        p = sigmoid(z)
        if self.method == "isotonic":
            p = np.interp(p, self.iso_x, self.iso_y)
        return np.clip(p, self.bound, 1.0 - self.bound)


@dataclass(frozen=True)
class Thresholds:
    """Handoff cut-offs on expected revenue (calibrated win probability x expected deal size,
    in the unit of `DealSize.basis`), and the minimum fit score (0-100) for any handoff.

    Expected revenue, not probability: the costs of a handoff are money per lead, so the
    break-even rule compares money with money, and a 4% lead on a 100k deal is worth more of an
    AE's hour than a 10% lead on a 5k one (docs/thresholds.md has the measured difference)."""

    mql: float
    sql: float
    min_fit: float = 0.0
    source: str = "default"  # "default" (quantiles at training) or "tuned" (threshold study)


DEAL_BASES = ("amounts", "deal_value", "win")


@dataclass(frozen=True)
class DealSize:
    """Expected deal amount if won: a booster on log amount over fit features, or a constant.

    `basis` says what the amount is, so what expected revenue is: "amounts", learnt from the
    source's revenue / opportunity amounts (their currency); "deal_value", the config's
    `leads.deal_value` for every lead (a source without amounts); "win", 1 for every lead (no
    amounts and no deal value: expected revenue is the win probability, in wins)."""

    default_amount: float
    part: Part | None = None
    basis: str = "amounts"

    def __post_init__(self) -> None:
        if self.basis not in DEAL_BASES:
            raise ValueError(f"deal size basis {self.basis!r} is not one of {DEAL_BASES}")

    def amount(self, frame: pd.DataFrame) -> np.ndarray:
        if self.part is None:
            return np.full(n_rows(frame), self.default_amount)
        x = self.part.encoder.transform(frame)
        return np.exp(self.part.booster.predict(x, num_threads=threads(len(x))))


@dataclass(frozen=True)
class LeadScorer:
    config: Config
    parts: dict[str, Part]  # "fit" and/or "intent", and "joint" when stacked (with them or alone)
    calibration: Calibration
    score_grid: dict[str, tuple[float, ...]]  # part -> quantiles of its logit on training leads
    deal_size: DealSize
    thresholds: Thresholds
    metadata: dict = field(default_factory=dict)

    @property
    def spec(self) -> list[FeatureInfo]:
        return feature_spec(self.config)

    def logits(self, features: pd.DataFrame) -> dict[str, np.ndarray]:
        return {name: part.raw(features) for name, part in self.parts.items()}

    def part_score(self, name: str, logit_values: np.ndarray) -> np.ndarray:
        """0-100: the share of training leads this lead beats on this part."""
        grid = np.asarray(self.score_grid[name])
        return np.interp(logit_values, grid, np.linspace(0, 100, len(grid)))

    def score(self, features: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=features.index)
        for name, values in self.score_arrays(features).items():
            out[name] = values
        return out

    def score_arrays(
        self, features: pd.DataFrame | Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The columns of `score` as arrays; takes feature arrays too (the real-time path)."""
        logits = self.logits(features)
        stacked = np.column_stack([logits[n] for n in self.parts])
        p = self.calibration.probability(stacked)
        out: dict[str, np.ndarray] = {}
        for name in ("fit", "intent"):
            out[f"{name}_score"] = (
                np.round(self.part_score(name, logits[name]), 1)
                if name in logits
                else np.full(len(p), np.nan)
            )
        out["win_probability"] = p
        out["expected_revenue"] = p * self.deal_size.amount(features)
        out["stage"] = self.stage(
            expected_revenue=out["expected_revenue"], fit_score=out["fit_score"]
        )
        out["grade"] = grade(out["fit_score"], out["intent_score"])
        return out

    def stage(self, *, expected_revenue: np.ndarray, fit_score: np.ndarray) -> np.ndarray:
        t, value = self.thresholds, expected_revenue
        fit_ok = np.isnan(fit_score) | (fit_score >= t.min_fit)
        stage = np.where(value >= t.sql, "sql", np.where(value >= t.mql, "mql", "nurture"))
        return np.where(fit_ok, stage, "nurture").astype(object)

    def with_thresholds(self, thresholds: Thresholds) -> LeadScorer:
        return LeadScorer(
            self.config,
            self.parts,
            self.calibration,
            self.score_grid,
            self.deal_size,
            thresholds,
            self.metadata,
        )

    # ------------------------------------------------------------------ persistence

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, part in self._all_parts().items():
            part.booster.save_model(str(folder / f"{name}.lgb.txt"))
        doc = {
            "format": _FORMAT,
            "config": self.config.stored(),  # no credential travels with a model
            "parts": {n: _encoder_doc(p.encoder) for n, p in self.parts.items()},
            "calibration": asdict(self.calibration),
            "score_grid": self.score_grid,
            "deal_size": {
                "default_amount": self.deal_size.default_amount,
                "encoder": _encoder_doc(self.deal_size.part.encoder)
                if self.deal_size.part
                else None,
                "basis": self.deal_size.basis,
            },
            "thresholds": asdict(self.thresholds),
            "metadata": self.metadata,
        }
        (folder / "scorer.json").write_text(json.dumps(doc, indent=1))

    def _all_parts(self) -> dict[str, Part]:
        parts = dict(self.parts)
        if self.deal_size.part is not None:
            parts["deal_size"] = self.deal_size.part
        return parts

    @classmethod
    def load(cls, folder: Path) -> LeadScorer:
        folder = Path(folder)
        doc = json.loads((folder / "scorer.json").read_text())
        if doc.get("format") not in _READABLE:
            raise ValueError(
                f"{folder}: scorer format {doc.get('format')} is not one of {_READABLE}"
            )

        def part(name: str, enc: dict) -> Part:
            booster = lgb.Booster(model_file=str(folder / f"{name}.lgb.txt"))
            return Part(_encoder_from(enc), booster)

        deal = doc["deal_size"]
        return cls(
            config=Config.model_validate(doc["config"]),
            parts={n: part(n, enc) for n, enc in doc["parts"].items()},
            calibration=Calibration(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in doc["calibration"].items()}
            ),
            score_grid={k: tuple(v) for k, v in doc["score_grid"].items()},
            deal_size=DealSize(
                deal["default_amount"],
                part("deal_size", deal["encoder"]) if deal["encoder"] else None,
                deal.get("basis", "amounts"),  # format 2: amounts were all it knew
            ),
            thresholds=Thresholds(**doc["thresholds"]),
            metadata=doc["metadata"],
        )


def _encoder_doc(encoder: Encoder) -> dict:
    return {
        "names": list(encoder.names),
        "categories": {k: list(v) for k, v in encoder.categories.items()},
    }


def _encoder_from(doc: dict) -> Encoder:
    return Encoder(tuple(doc["names"]), {k: tuple(v) for k, v in doc["categories"].items()})
