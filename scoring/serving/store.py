"""Registered models in the BentoML model store: imported from the MLflow registry or a local
export (`leadscore serve` does it), and the scorer folder and version label of a stored model."""

from __future__ import annotations

from pathlib import Path

import bentoml

from scoring.model.registry import CHAMPION_URI, MODEL_NAME, export_meta

SCORER_DIR = ("mlflow_model", "artifacts", "scorer")


def import_model(model_uri: str, labels: dict[str, str] | None = None) -> bentoml.Model:
    """Import an MLflow model (`models:/lead-scoring@champion`, or a local export folder from
    `leadscore export`) into the BentoML model store as `lead-scoring`."""
    meta = _registry_meta(model_uri)
    tags = {"source": model_uri} | meta | (labels or {})
    if "version" in meta:  # the same registered version is imported once
        try:
            imported = bentoml.models.list(MODEL_NAME)
        except bentoml.exceptions.NotFound:
            imported = []
        for stored in imported:
            known = stored.info.labels
            if all(known.get(k) == v for k, v in meta.items()):
                return stored
    return bentoml.mlflow.import_model(MODEL_NAME, model_uri, labels=tags)


def import_champion() -> bentoml.Model:
    return import_model(CHAMPION_URI)


def _registry_meta(model_uri: str) -> dict[str, str]:
    if model_uri.startswith("models:/"):
        import mlflow

        name, _, alias = model_uri.removeprefix("models:/").partition("@")
        client = mlflow.MlflowClient()
        version = (
            client.get_model_version_by_alias(name, alias)
            if alias
            else client.get_model_version(*name.split("/", 1))
        )
        return {"registered_model": version.name, "version": str(version.version)}
    return export_meta(Path(model_uri))


def scorer_dir(stored: bentoml.Model) -> Path:
    return Path(stored.path).joinpath(*SCORER_DIR)


def model_version(stored: bentoml.Model) -> str:
    labels = stored.info.labels
    if "version" in labels:
        return f"{labels.get('registered_model', MODEL_NAME)} v{labels['version']}"
    return str(stored.tag)
