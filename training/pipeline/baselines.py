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

from scoring.model.scorer import sigmoid

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
    """P(won | lead) from per-field won/lost frequency tables with Laplace smoothing; numeric
    fields are cut into quantile bins first. Missing is a value of its own."""

    bins: int = 5
    alpha: float = 1.0
    edges: dict[str, np.ndarray] = field(default_factory=dict)
    tables: dict[str, pd.Series] = field(default_factory=dict)
    prior: float = 0.0

    def _discrete(self, name: str, values: pd.Series) -> pd.Series:
        if name in self.edges:
            codes = np.searchsorted(self.edges[name], values.to_numpy(dtype=float), side="right")
            return pd.Series(np.where(values.isna(), -1, codes), index=values.index).astype(str)
        return values.astype(object).fillna(MISSING).astype(str)

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
            values = self._discrete(name, features[name])
            won = values[y == 1].value_counts()
            lost = values[y == 0].value_counts()
            levels = won.index.union(lost.index)
            won, lost = won.reindex(levels, fill_value=0), lost.reindex(levels, fill_value=0)
            k = len(levels) + 1
            p_won = (won + self.alpha) / (won.sum() + self.alpha * k)
            p_lost = (lost + self.alpha) / (lost.sum() + self.alpha * k)
            unseen = np.log(
                (self.alpha / (won.sum() + self.alpha * k))
                / (self.alpha / (lost.sum() + self.alpha * k))
            )
            self.tables[name] = pd.concat(
                [np.log(p_won / p_lost), pd.Series({"__unseen__": unseen})]
            )
        self.prior = float(np.log(y.mean() / (1 - y.mean())))
        return self

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        score = np.full(len(features), self.prior)
        for name, table in self.tables.items():
            values = self._discrete(name, features[name])
            score += values.map(table).fillna(table["__unseen__"]).to_numpy(dtype=float)
        return sigmoid(score)
