"""Registered models in the BentoML model store: imported from the MLflow registry or a local
export (`leadscore serve` does it) under their source's registered model name
(`lead-scoring`, `lead-scoring-maven-crm`), a source's challenger under `<that name>.challenger`
(so it is never the `<name>:latest` a service or a Bento takes for the champion), and the scorer
folder, config and version label of a stored model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import bentoml
import yaml

from scoring.config import Config, ConfigError
from scoring.model.registry import (
    CHALLENGER,
    DEMO_SOURCE,
    challenger_uri,
    champion_uri,
    client,
    export_meta,
    model_name,
    parse_model_uri,
    scorer_source,
)

SCORER_DIR = ("mlflow_model", "artifacts", "scorer")
MAX_TAG = 63  # characters of a BentoML model name


def import_model(model_uri: str, labels: dict[str, str] | None = None) -> bentoml.Model:
    """Import an MLflow model (`models:/lead-scoring-maven-crm@champion`, or a local export folder
    from `leadscore export`) into the BentoML model store, named as its registered model (an
    export that does not say: as its source's), so one source's model never stands in for
    another's `<name>:latest`."""
    meta = _registry_meta(model_uri)
    if meta:
        return _import(meta["registered_model"], model_uri, meta, labels)
    if Path(model_uri).is_dir():
        return _import(_export_name(Path(model_uri)), model_uri, meta, labels)
    with tempfile.TemporaryDirectory() as tmp:  # e.g. runs:/...: its scorer names the source
        import mlflow

        client()  # MLflow's download reads the configured store
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp)
        return _import(
            _export_name(Path(local)), local, meta, (labels or {}) | {"source": model_uri}
        )


def _import(
    name: str, model_uri: str, meta: dict[str, str], labels: dict[str, str] | None
) -> bentoml.Model:
    tags = {"source": model_uri} | meta | (labels or {})
    if "version" in meta:  # the same registered version (of the same run) is imported once
        try:
            imported = bentoml.models.list(name)
        except bentoml.exceptions.NotFound:
            imported = []
        for stored in imported:
            known = stored.info.labels
            if all(known.get(k) == v for k, v in meta.items()):
                return stored
    return bentoml.mlflow.import_model(name, model_uri, labels=tags)


def import_champion(source: str = DEMO_SOURCE) -> bentoml.Model:
    """Import the source's champion (the demo's `lead-scoring@champion` by default)."""
    return import_model(champion_uri(source))


def challenger_name(source: str = DEMO_SOURCE) -> str:
    """The BentoML model name of the source's challengers (a '.' no registered model holds)."""
    name = f"{model_name(source)}.{CHALLENGER}"
    if len(name) > MAX_TAG:
        raise ConfigError(
            f"{model_name(source)} is too long a name to store its challenger as {name!r} in "
            f"BentoML (at most {MAX_TAG} characters): shadow it in batch (`leadscore rescore`)"
        )
    return name


def import_challenger(source: str = DEMO_SOURCE) -> bentoml.Model:
    """Import the source's challenger (`models:/lead-scoring@challenger` for the demo) under
    `challenger_name(source)`."""
    uri = challenger_uri(source)
    return _import(challenger_name(source), uri, _registry_meta(uri), None)


def _export_name(folder: Path) -> str:
    """The registered model an export folder says it is, else its scorer's source's."""
    said = export_meta(folder).get("registered_model")
    if said:
        return said
    found = next(folder.rglob("scorer.json"), None)
    if found is None:
        raise ConfigError(f"--from: {folder} holds no scorer/ artifact (not a leadscore export)")
    return model_name(scorer_source(found.parent))


def _registry_meta(model_uri: str) -> dict[str, str]:
    """The registered model, version and training run a `models:/name@alias` or
    `models:/name/version` URI points at; for any other URI, what an export folder says (maybe
    nothing). The run tells apart two stores' version 1: the BentoML store outlives a checkout's
    `mlflow.db` (`make clean`, a second clone)."""
    if not model_uri.startswith("models:/"):
        folder = Path(model_uri)
        return export_meta(folder) | _logged_run(folder) if folder.is_dir() else {}
    name, alias, number = parse_model_uri(model_uri)
    store = client()  # the configured store (MLFLOW_TRACKING_URI now), as the import reads it
    if alias is not None:
        version = store.get_model_version_by_alias(name, alias)
    elif number is not None:
        version = store.get_model_version(name, number)
    else:
        return {}  # a logged model id (models:/m-...): not a registered version
    meta = {"registered_model": version.name, "version": str(version.version)}
    return meta | ({"run_id": version.run_id} if version.run_id else {})


def _logged_run(folder: Path) -> dict[str, str]:
    """The training run an exported MLflow model was logged in, as its MLmodel file says."""
    mlmodel = next(folder.rglob("MLmodel"), None)
    run_id = yaml.safe_load(mlmodel.read_text()).get("run_id") if mlmodel else None
    return {"run_id": str(run_id)} if run_id else {}


def scorer_dir(stored: bentoml.Model) -> Path:
    return Path(stored.path).joinpath(*SCORER_DIR)


def stored_config(stored: bentoml.Model) -> Config:
    """The config a stored model was trained with: its source, fields and feature spec."""
    doc = json.loads((scorer_dir(stored) / "scorer.json").read_text())
    return Config.model_validate(doc["config"])


def model_version(stored: bentoml.Model) -> str:
    labels = stored.info.labels
    if "version" in labels:
        return f"{labels.get('registered_model', stored.tag.name)} v{labels['version']}"
    return str(stored.tag)
