"""MLflow pyfunc (models from code): `mlflow.pyfunc.load_model("models:/lead-scoring@champion")
.predict(df)` returns fit score, intent score, win probability, expected revenue, stage and
grade. `df` holds the lead fields as strings or typed (numbers, booleans, timestamps, None/NaN):
the logged signature declares every column of type Any (`training.tracking.input_signature`),
so MLflow passes typed columns through and `scoring.model.predict.score_table` reads both."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

from scoring.model.predict import score_table
from scoring.model.scorer import LeadScorer


class LeadScoringModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.scorer = LeadScorer.load(Path(context.artifacts["scorer"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return score_table(self.scorer, model_input)


mlflow.models.set_model(LeadScoringModel())
