"""Two baselines trained on the same folds: one-hot logistic regression, and naive Bayes over
won/lost frequency tables (how Odoo CRM's predictive lead scoring works)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring.model.scorer import logit, sigmoid

MISSING = "(missing)"


def logistic_baseline(
    features: pd.DataFrame, label: pd.Series, categorical: set[str], seed: int
) -> Pipeline:
    cats = [c for c in features.columns if c in categorical]
    nums = [c for c in features.columns if c not in categorical]
    encode = ColumnTransformer(
        [
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=MISSING),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=20),
                ),
                cats,
            ),
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums),
        ]
    )
    model = make_pipeline(encode, LogisticRegression(C=0.5, max_iter=2000, random_state=seed))
    return model.fit(features.astype({c: object for c in cats}), label)


@dataclass
class FrequencyNaiveBayes:
    """P(won | lead) from per-field won/lost frequency tables; numeric fields are cut into
    quantile bins first, and missing is a value of its own.

    A value's evidence is the log ratio of its frequency among won and among lost leads, which is
    its win odds over the base odds: logit(r) - logit(base rate), with its win rate r shrunk
    towards the base rate by `shrink` leads at that rate. A value seen fewer than `min_count`
    times, or never, is no evidence (0), as in Odoo's frequency tables: on a high-cardinality
    column (an id, an email, a street) each rare value would otherwise carry one lead's outcome,
    and add-one smoothing over thousands of values makes an unseen one look like a win when wins
    are the rarer class."""

    bins: int = 5
    min_count: int = 5
    shrink: float = 10.0
    edges: dict[str, np.ndarray] = field(default_factory=dict)
    tables: dict[str, pd.Series] = field(default_factory=dict)
    prior: float = 0.0

    def _discrete(self, name: str, values: pd.Series) -> pd.Series:
        if name in self.edges:
            codes = np.searchsorted(self.edges[name], values.to_numpy(dtype=float), side="right")
            return pd.Series(np.where(values.isna(), -1, codes), index=values.index).astype(str)
        return values.astype(object).fillna(MISSING).astype(str)

    def _evidence(self, values: pd.Series, y: np.ndarray) -> pd.Series:
        """Log likelihood ratio of each value seen at least `min_count` times."""
        seen = values.value_counts()
        won = values[y == 1].value_counts().reindex(seen.index, fill_value=0)
        base = y.mean()
        rate = (won + self.shrink * base) / (seen + self.shrink)
        evidence = logit(rate.to_numpy()) - logit(np.array([base]))
        return pd.Series(evidence, index=seen.index)[seen >= self.min_count]

    def fit(
        self, features: pd.DataFrame, label: pd.Series, categorical: set[str]
    ) -> FrequencyNaiveBayes:
        y = label.to_numpy()
        for name in features.columns:
            if name not in categorical:
                qs = np.nanquantile(
                    features[name].to_numpy(dtype=float), np.linspace(0, 1, self.bins + 1)[1:-1]
                )
                self.edges[name] = np.unique(qs[~np.isnan(qs)])
            self.tables[name] = self._evidence(self._discrete(name, features[name]), y)
        self.prior = float(logit(np.array([y.mean()]))[0])
        return self

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        score = np.full(len(features), self.prior)
        for name, table in self.tables.items():
            values = self._discrete(name, features[name])
            score += values.map(table).fillna(0.0).to_numpy(dtype=float)
        return sigmoid(score)
