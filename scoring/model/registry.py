"""The MLflow registry as the runtime sees it: the registered model's name, its aliases, the
champion lookup, promotion and rollback, versions, exports.

MLflow is imported inside the functions: the serving image loads models from the BentoML store
and has no MLflow (bentofile.yaml).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from scoring.config import Config, ConfigError
from scoring.model.scorer import LeadScorer

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

MODEL_NAME = "lead-scoring"
EXPERIMENT = MODEL_NAME  # the MLflow experiment of its trainings
CHAMPION, PREVIOUS = "champion", "previous"
CHAMPION_URI = f"models:/{MODEL_NAME}@{CHAMPION}"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """MLflow's own variable (MLFLOW_TRACKING_URI), read at each call as MLflow reads it; the
    default is the store `make run` creates in the working folder."""
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)


def setup() -> MlflowClient:
    """Point MLflow at the configured store and experiment; the client of that store."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(EXPERIMENT)
    return mlflow.MlflowClient()


def client() -> MlflowClient:
    """A client of the configured store, for reading the registry (no experiment is created);
    MLflow's own calls in this process (artifact downloads) use the same store."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    return mlflow.MlflowClient()


def alias_version(client: MlflowClient, alias: str, name: str = MODEL_NAME) -> str | None:
    """The version `name@alias` points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def load_champion(
    client: MlflowClient, into: Path, name: str = MODEL_NAME, alias: str = CHAMPION
) -> tuple[str, Path]:
    """(version, local scorer folder) of `name@alias`, downloaded from the MLflow registry into
    the folder `into`."""
    import mlflow

    version = alias_version(client, alias, name)
    if version is None:
        raise ConfigError(
            f"no {name}@{alias} in the MLflow registry at {client.tracking_uri}: "
            "train and promote a model first (`leadscore train`, `leadscore promote latest`)"
        )
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{version}", dst_path=str(into)
    )
    found = next(Path(local).rglob("scorer.json"), None)
    if found is None:
        raise ConfigError(f"{name} version {version} holds no scorer/ artifact")
    return version, found.parent


def export_meta(folder: Path) -> dict[str, str]:
    """The registered model and version of an export folder (`leadscore export`), if it says."""
    meta = Path(folder) / "registered_model_meta"
    if not meta.is_file():
        return {}
    doc = yaml.safe_load(meta.read_text()) or {}
    return {"registered_model": str(doc["model_name"]), "version": str(doc["model_version"])}


def load_export(folder: Path) -> tuple[str, Path]:
    """(version, scorer folder) of a local export: what a batch job without registry access
    runs on (`leadscore rescore --model models/lead-scoring-v3`)."""
    if not Path(folder).is_dir():
        raise ConfigError(
            f"--model: {folder} is not a folder (`leadscore export VERSION` makes one)"
        )
    found = next(Path(folder).rglob("scorer.json"), None)
    if found is None:
        raise ConfigError(f"--model: {folder} holds no scorer/ artifact (not a leadscore export)")
    return export_meta(folder).get("version", Path(folder).name), found.parent


def load_scorer(client: MlflowClient, version: str) -> tuple[LeadScorer, str]:
    """The runtime model of a registered version, and the run it was logged in."""
    import mlflow

    mv = client.get_model_version(MODEL_NAME, version)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=tmp)
        return LeadScorer.load(Path(path) / "artifacts" / "scorer"), mv.run_id


def promote(client: MlflowClient, version: str) -> str | None:
    """Make `version` the champion; the old champion becomes `previous`. Returns the old one."""
    if version == "latest":
        found = client.search_model_versions(f"name='{MODEL_NAME}'")
        if not found:
            raise ValueError(f"no registered version of {MODEL_NAME} to promote")
        version = max(found, key=lambda v: int(v.version)).version
    client.get_model_version(MODEL_NAME, version)  # raises when it does not exist
    old = alias_version(client, CHAMPION)
    if old is not None and old != version:
        client.set_registered_model_alias(MODEL_NAME, PREVIOUS, old)
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    return old


def rollback(client: MlflowClient) -> tuple[str, str]:
    """Swap champion and previous; returns (new champion, now previous)."""
    champion, previous = alias_version(client, CHAMPION), alias_version(client, PREVIOUS)
    if champion is None or previous is None:
        raise ValueError("nothing to roll back to: the model has no `previous` version")
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, previous)
    client.set_registered_model_alias(MODEL_NAME, PREVIOUS, champion)
    return previous, champion


def versions(client: MlflowClient) -> pd.DataFrame:
    """Registered versions with their aliases, source and key test metrics."""
    rows = []
    for found in client.search_model_versions(f"name='{MODEL_NAME}'"):
        v = client.get_model_version(MODEL_NAME, found.version)  # search leaves aliases out
        run = client.get_run(v.run_id)
        m = run.data.metrics
        rows.append(
            {
                "version": int(v.version),
                "aliases": ",".join(v.aliases),
                "source": run.data.tags.get("source"),
                "roc_auc": m.get("combined_roc_auc"),
                "ece": m.get("combined_ece"),
                "revenue_top20": m.get("combined_revenue_share_top20"),
                "created": pd.Timestamp(v.creation_timestamp, unit="ms").strftime("%Y-%m-%d %H:%M"),
                "run_id": v.run_id,
            }
        )
    return pd.DataFrame(rows).sort_values("version") if rows else pd.DataFrame()


def logged_config(client: MlflowClient, run_id: str) -> Config:
    """The config a training run logged (`leadscore train --from-run`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run_id, "config.json", tmp)
        return Config.model_validate(json.loads(Path(path).read_text()))


def export(client: MlflowClient, version: str, into: Path) -> Path:
    """Copy a registered version (MLflow model with its scorer) into `into`."""
    import mlflow

    target = into / f"{MODEL_NAME}-v{version}"
    source = client.get_model_version(MODEL_NAME, version).source
    mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(target))
    return target
