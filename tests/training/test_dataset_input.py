"""The training set's MLflow dataset input: the schema read from the column types is the one
MLflow infers from the values, and it is what the training run records."""

from __future__ import annotations

import json
import warnings

import mlflow
import numpy as np
import pandas as pd
from mlflow.types import Schema
from mlflow.types.utils import _infer_schema

from training.dataset_input import column_schema, training_set


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3"],
            "employees": [120.0, np.nan, 8.0],
            "visits": [1.0, 2.0, 3.0],
            "vertical": pd.Series(["Software", None, "Retail"], dtype="str"),
            "label": np.array([1, 0, 0], dtype=np.int64),
            "fold": ["train", "train", "test"],
            "flag": [True, False, True],
        }
    )


def test_the_schema_from_the_types_is_the_one_mlflow_infers_from_the_values():
    frame = _frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's hint on integer columns
        inferred = _infer_schema(frame)
    assert column_schema(frame) == inferred
    assert column_schema(frame.astype({"vertical": "category"})) == inferred


def test_the_run_records_the_training_set(mlflow_store: str):
    experiment = mlflow.MlflowClient().create_experiment("training-set")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_input(training_set(_frame(), "demo-training-set", "abc123", "label"), "training")
    logged = mlflow.get_run(run.info.run_id).inputs.dataset_inputs[0]
    assert (logged.dataset.name, logged.dataset.digest) == ("demo-training-set", "abc123")
    assert '"num_rows": 3' in logged.dataset.profile
    colspec = json.loads(logged.dataset.schema)["mlflow_colspec"]
    assert Schema.from_json(json.dumps(colspec)) == column_schema(_frame())
    assert [t.value for t in logged.tags] == ["training"]
