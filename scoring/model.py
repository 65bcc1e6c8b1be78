"""The lead-scoring runtime: features -> fit and intent scores, win probability, expected revenue,
stage. What training registers, the service and batch jobs load: no scikit-learn, no pandas on
the per-lead arithmetic, just arrays, LightGBM boosters and a few stored numbers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.config import Config
from scoring.features import FeatureInfo, feature_spec

STAGES = ("nurture", "mql", "sql")
_FORMAT = 1


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


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

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.names)), dtype=np.float64)
        for i, name in enumerate(self.names):
            values = frame[name]
            if name in self.categories:
                codes = pd.Categorical(values, categories=self.categories[name]).codes
                out[:, i] = np.where(codes < 0, np.nan, codes)
            else:
                out[:, i] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return out


@dataclass(frozen=True)
class Part:
    """One LightGBM model over a group of features."""

    encoder: Encoder
    booster: lgb.Booster

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self.encoder.transform(frame), raw_score=True)


@dataclass(frozen=True)
class Calibration:
    """Combined logit -> probability: a logistic stacker then an optional isotonic map."""

    weights: tuple[float, ...]  # intercept, then one weight per part logit (fit, intent)
    method: str  # "sigmoid" (stacker only) or "isotonic"
    iso_x: tuple[float, ...] = ()
    iso_y: tuple[float, ...] = ()

    def probability(self, logits: np.ndarray) -> np.ndarray:
        w = np.asarray(self.weights)
        p = sigmoid(w[0] + logits @ w[1:])
        if self.method == "isotonic":
            p = np.interp(p, self.iso_x, self.iso_y)
        return p


@dataclass(frozen=True)
class Thresholds:
    """Handoff cut-offs on the calibrated win probability, and the minimum fit score."""

    mql: float
    sql: float
    min_fit: float = 0.0
    source: str = "default"  # "default" (quantiles at training) or "tuned" (threshold study)


@dataclass(frozen=True)
class DealSize:
    """Expected deal amount if won: a booster on log amount over fit features, or a constant."""

    default_amount: float
    part: Part | None = None

    def amount(self, frame: pd.DataFrame) -> np.ndarray:
        if self.part is None:
            return np.full(len(frame), self.default_amount)
        return np.exp(self.part.booster.predict(self.part.encoder.transform(frame)))


@dataclass(frozen=True)
class LeadScorer:
    config: Config
    parts: dict[str, Part]  # "fit" and/or "intent"
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
        logits = self.logits(features)
        stacked = np.column_stack([logits[n] for n in self.parts])
        p = self.calibration.probability(stacked)
        out = pd.DataFrame(index=features.index)
        for name in ("fit", "intent"):
            out[f"{name}_score"] = (
                np.round(self.part_score(name, logits[name]), 1) if name in logits else np.nan
            )
        out["win_probability"] = p
        out["expected_revenue"] = p * self.deal_size.amount(features)
        out["stage"] = self.stage(p, out["fit_score"].to_numpy())
        return out

    def stage(self, p: np.ndarray, fit_score: np.ndarray) -> np.ndarray:
        t = self.thresholds
        fit_ok = np.isnan(fit_score) | (fit_score >= t.min_fit)
        stage = np.where(p >= t.sql, "sql", np.where(p >= t.mql, "mql", "nurture"))
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
            "config": self.config.model_dump(mode="json"),
            "parts": {n: _encoder_doc(p.encoder) for n, p in self.parts.items()},
            "calibration": asdict(self.calibration),
            "score_grid": self.score_grid,
            "deal_size": {
                "default_amount": self.deal_size.default_amount,
                "encoder": _encoder_doc(self.deal_size.part.encoder)
                if self.deal_size.part
                else None,
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
        if doc.get("format") != _FORMAT:
            raise ValueError(f"{folder}: scorer format {doc.get('format')} is not {_FORMAT}")

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
