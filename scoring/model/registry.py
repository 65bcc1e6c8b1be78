"""The MLflow registry as the runtime sees it: one registered model per data source, its
aliases, the champion lookup, promotion and rollback, versions, exports.

A source is a config's `name` (`demo`, `maven-crm`); its registered model is `model_name(source)`:
`lead-scoring` for the demo (the name `make run`, the docs and existing exports use) and
`lead-scoring-<source>` for every other source. Each registered model has its own `champion` and
`previous`, so promoting or rolling back one source never touches another, and may have a
`challenger`: a version that scores in shadow next to the champion (batch and real time) and never
decides a stage. Every function that
works on versions takes `source` (default: the demo) and refuses a version trained on another
source (a store from before per-source models may hold one).

MLflow is imported inside the functions: the serving image loads models from the BentoML store
and has no MLflow (bentofile.yaml).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from scoring.config import Config, ConfigError, hide_url
from scoring.model.scorer import LeadScorer

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

PREFIX = "lead-scoring"
DEMO_SOURCE = "demo"
MODEL_NAME = PREFIX  # the demo source's registered model
EXPERIMENT = PREFIX  # the MLflow experiment of every source's trainings (runs are tagged `source`)
CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"
SOURCE_TAG = "source"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# A BentoML tag name (the service's model is stored under the registered model's name): lowercase
# letters, digits, '-' and '_', at most 63 characters in all.
_SOURCE = re.compile(r"^[a-z0-9]([-_a-z0-9]*[a-z0-9])?$")
_MAX_NAME = 63
_VERSION = re.compile(r"^[1-9][0-9]*$")
_URI = re.compile(r"^[a-zA-Z][-+.a-zA-Z0-9]*:")  # runs:/, s3://, file:// ... (not a local path)


class NotFoundError(ValueError):
    """A registered version, alias, MLflow run or export folder that does not exist (the CLI
    ends with exit code 3)."""


def model_name(source: str) -> str:
    """The registered model of a data source: `lead-scoring` for the demo, else
    `lead-scoring-<source>`."""
    name = PREFIX if source == DEMO_SOURCE else f"{PREFIX}-{source}"
    if not _SOURCE.match(source) or len(name) > _MAX_NAME:
        longest = _MAX_NAME - len(PREFIX) - 1
        raise ConfigError(
            f"name: {source!r} cannot name a registered model ({PREFIX}-<name>): use lowercase "
            f"letters, digits, '-' and '_' (e.g. 'maven-crm'), at most {longest} characters"
        )
    return name


def source_of(name: str) -> str | None:
    """The data source whose registered model is `name`, or None for another model."""
    if name == PREFIX:
        return DEMO_SOURCE
    source = name.removeprefix(f"{PREFIX}-")
    if source in (name, DEMO_SOURCE) or not _SOURCE.match(source):
        return None
    return source


def champion_uri(source: str = DEMO_SOURCE) -> str:
    return f"models:/{model_name(source)}@{CHAMPION}"


CHAMPION_URI = champion_uri()  # the demo's


def challenger_uri(source: str = DEMO_SOURCE) -> str:
    return f"models:/{model_name(source)}@{CHALLENGER}"


def tracking_uri() -> str:
    """MLflow's own variable (MLFLOW_TRACKING_URI), read at each call as MLflow reads it; the
    default is the store `make run` creates in the working folder."""
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)


def store_name(uri: str | None = None) -> str:
    """The tracking store's URI (default: the configured one) for a message: without its
    password, if it holds one."""
    return hide_url(tracking_uri() if uri is None else uri)


def _absent(exc: Exception) -> bool:
    """An MlflowException saying the thing asked for does not exist (a store that cannot be
    reached raises another kind)."""
    code = getattr(exc, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc)
    )


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


def promote_hint(source: str) -> str:
    """The command that makes the newest version of `source` its champion."""
    return "leadscore promote latest" + _flag(source)


def alias_version(client: MlflowClient, alias: str, *, source: str = DEMO_SOURCE) -> str | None:
    """The version `<source's model>@alias` points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name(source), alias).version)
    except MlflowException as exc:
        if _absent(exc):
            return None
        raise


def challenger_of(client: MlflowClient, source: str = DEMO_SOURCE) -> str | None:
    """The version `<source's model>@challenger` points at, or None (no challenger)."""
    return alias_version(client, CHALLENGER, source=source)


def set_challenger(client: MlflowClient, version: str, *, source: str = DEMO_SOURCE) -> str | None:
    """Make `version` (or 'latest') the source's challenger; returns the one it replaces. Refused
    for a version of another source and for the champion itself (it would shadow itself)."""
    name = model_name(source)
    if version == "latest":
        version = _latest(client, source)
    registered_version(client, version, source=source)
    if version == alias_version(client, CHAMPION, source=source):
        raise ValueError(
            f"{name} version {version} is the champion: a challenger is another version "
            f"(`leadscore models{_flag(source)}` lists them)"
        )
    old = challenger_of(client, source)
    client.set_registered_model_alias(name, CHALLENGER, version)
    return old


def clear_challenger(client: MlflowClient, *, source: str = DEMO_SOURCE) -> str | None:
    """Remove the source's challenger alias; returns the version it pointed at (None: none)."""
    old = challenger_of(client, source)
    if old is not None:
        client.delete_registered_model_alias(model_name(source), CHALLENGER)
    return old


def _flag(source: str) -> str:
    return "" if source == DEMO_SOURCE else f" --source {source}"


def _retire_challenger(client: MlflowClient, champion: str, source: str) -> bool:
    """A challenger that became the champion is no longer one: its alias goes (True)."""
    if challenger_of(client, source) != champion:
        return False
    client.delete_registered_model_alias(model_name(source), CHALLENGER)
    return True


def trained_on(client: MlflowClient, version: ModelVersion) -> str | None:
    """The source a version was trained on: its `source` tag, or its run's (older versions)."""
    tagged = version.tags.get(SOURCE_TAG)
    if tagged is None and version.run_id:
        tagged = client.get_run(version.run_id).data.tags.get(SOURCE_TAG)
    return tagged


def registered_version(client: MlflowClient, version: str, *, source: str) -> ModelVersion:
    """A version of the source's registered model; refused when it does not exist or was trained
    on another source (a store from before per-source models may hold one)."""
    from mlflow.exceptions import MlflowException

    name = model_name(source)
    if not _VERSION.match(version):
        raise ValueError(
            f"version {version!r} is not a version number (`leadscore models` lists them)"
        )
    try:
        found = client.get_model_version(name, version)
    except MlflowException as exc:
        if not _absent(exc):
            raise
        raise NotFoundError(
            f"{name} has no version {version} (`leadscore models` lists them)"
        ) from None
    other = trained_on(client, found)
    if other is not None and other != source:
        raise ValueError(
            f"{name} version {version} was trained on source {other!r}, not {source!r}: "
            f"retrain it with its config to register it as {model_name(other)}"
        )
    return found


def scorer_source(folder: Path) -> str:
    """The source (config name) a scorer folder was trained on."""
    return str(json.loads((Path(folder) / "scorer.json").read_text())["config"]["name"])


def _check_scorer(folder: Path, source: str, what: str) -> None:
    found = scorer_source(folder)
    if found != source:
        raise ConfigError(
            f"{what} was trained on source {found!r}, not {source!r}: use a model of {source!r}"
        )


def load_champion(
    client: MlflowClient, into: Path, *, source: str = DEMO_SOURCE, alias: str = CHAMPION
) -> tuple[str, Path]:
    """(version, local scorer folder) of the source's `champion` (or `alias`), downloaded from
    the MLflow registry into the folder `into`."""
    import mlflow

    name = model_name(source)
    version = alias_version(client, alias, source=source)
    if version is None:
        raise NotFoundError(
            f"no {name}@{alias} in the MLflow registry at {store_name(client.tracking_uri)}: "
            f"train and promote a model of {source!r} first "
            f"(`leadscore train --config C`, `{promote_hint(source)}`)"
        )
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{version}", dst_path=str(into)
    )
    found = next(Path(local).rglob("scorer.json"), None)
    if found is None:
        raise ConfigError(f"{name} version {version} holds no scorer/ artifact")
    _check_scorer(found.parent, source, f"{name}@{alias} (version {version})")
    return version, found.parent


def export_meta(folder: Path) -> dict[str, str]:
    """The registered model and version of an export folder (`leadscore export`), if it says."""
    meta = Path(folder) / "registered_model_meta"
    if not meta.is_file():
        return {}
    doc = yaml.safe_load(meta.read_text()) or {}
    return {"registered_model": str(doc["model_name"]), "version": str(doc["model_version"])}


def load_export(
    folder: Path, source: str | None = None, option: str = "--model"
) -> tuple[str, Path]:
    """(version, scorer folder) of a local export: what a batch job without registry access
    runs on (`leadscore rescore --model models/lead-scoring-v3`). With `source`, an export of
    another source's model is refused. Messages name the `option` that gave the folder."""
    if not Path(folder).is_dir():
        raise NotFoundError(
            f"{option}: {folder} is not a folder (`leadscore export VERSION` makes one)"
        )
    found = next(Path(folder).rglob("scorer.json"), None)
    if found is None:
        raise ConfigError(f"{option}: {folder} holds no scorer/ artifact (not a leadscore export)")
    if source is not None:
        _check_scorer(found.parent, source, f"{option}: {folder}")
    return export_meta(folder).get("version", Path(folder).name), found.parent


def load_scorer(
    client: MlflowClient, version: str, *, source: str = DEMO_SOURCE
) -> tuple[LeadScorer, str]:
    """The runtime model of a registered version of the source, and the run it was logged in."""
    import mlflow

    mv = registered_version(client, version, source=source)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=tmp)
        return LeadScorer.load(Path(path) / "artifacts" / "scorer"), mv.run_id


def _latest(client: MlflowClient, source: str) -> str:
    name = model_name(source)
    found = client.search_model_versions(f"name='{name}'")
    if not found:
        raise NotFoundError(f"no registered version of {name} (source {source!r}) to promote")
    return str(max(int(v.version) for v in found))


def promote(client: MlflowClient, version: str, *, source: str = DEMO_SOURCE) -> str | None:
    """Make `version` (or 'latest') the source's champion; its old champion becomes `previous`,
    and if it was the challenger, the source has no challenger any more. Returns the old
    champion. Other sources' aliases are left alone."""
    name = model_name(source)
    if version == "latest":
        version = _latest(client, source)
    registered_version(client, version, source=source)
    old = alias_version(client, CHAMPION, source=source)
    if old is not None and old != version:
        client.set_registered_model_alias(name, PREVIOUS, old)
    client.set_registered_model_alias(name, CHAMPION, version)
    _retire_challenger(client, version, source)
    return old


def rollback(client: MlflowClient, *, source: str = DEMO_SOURCE) -> tuple[str, str]:
    """Swap the source's champion and previous (a challenger that becomes the champion is no
    longer one); returns (new champion, now previous)."""
    name = model_name(source)
    champion = alias_version(client, CHAMPION, source=source)
    previous = alias_version(client, PREVIOUS, source=source)
    if champion is None or previous is None:
        raise ValueError(f"nothing to roll back to: {name} has no `previous` version")
    registered_version(client, previous, source=source)
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_alias(name, PREVIOUS, champion)
    _retire_challenger(client, previous, source)
    return previous, champion


def sources(client: MlflowClient) -> list[str]:
    """The sources with a registered model in the store, sorted."""
    found: list[str] = []
    token = None
    while True:
        page = client.search_registered_models(
            filter_string=f"name LIKE '{PREFIX}%'", page_token=token
        )
        found += [s for m in page if (s := source_of(m.name)) is not None]
        token = page.token
        if not token:
            return sorted(found)


def versions(client: MlflowClient, *, source: str = DEMO_SOURCE) -> pd.DataFrame:
    """The source's registered versions with their aliases, training source and key test
    metrics."""
    name = model_name(source)
    rows = []
    for found in client.search_model_versions(f"name='{name}'"):
        v = client.get_model_version(name, found.version)  # search leaves aliases out
        run = client.get_run(v.run_id)
        m = run.data.metrics
        rows.append(
            {
                "version": int(v.version),
                "aliases": ",".join(v.aliases),
                "source": v.tags.get(SOURCE_TAG) or run.data.tags.get(SOURCE_TAG),
                "roc_auc": m.get("combined_roc_auc"),
                "ece": m.get("combined_ece"),
                "revenue_top20": m.get("combined_revenue_share_top20"),
                "created": pd.Timestamp(v.creation_timestamp, unit="ms").strftime("%Y-%m-%d %H:%M"),
                "run_id": v.run_id,
            }
        )
    return pd.DataFrame(rows).sort_values("version") if rows else pd.DataFrame()


def logged_config(client: MlflowClient, run_id: str) -> Config:
    """The config a training run logged (`leadscore train --from-run`); refused when the store
    has no such run or the run logged no config."""
    from mlflow.exceptions import MlflowException

    where = f"the MLflow store at {store_name(client.tracking_uri)}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            client.get_run(run_id)
            path = client.download_artifacts(run_id, "config.json", tmp)
        except MlflowException as exc:
            if not _absent(exc):
                raise
            raise NotFoundError(
                f"--from-run {run_id}: no training run with a logged config.json in {where} "
                "(`leadscore models` lists the runs of registered versions)"
            ) from None
        return Config.model_validate(json.loads(Path(path).read_text()))


def served_uri(client: MlflowClient, model_uri: str | None, source: str) -> str:
    """The model `leadscore serve` imports: the source's champion, or `--from` once it is known
    to exist (a registered version or alias, or a local export folder)."""
    if model_uri is None:
        version = alias_version(client, CHAMPION, source=source)
        if version is None:
            raise NotFoundError(
                f"no {champion_uri(source)} in the MLflow registry at "
                f"{store_name(client.tracking_uri)}: `{promote_hint(source)}` makes one"
            )
        registered_version(client, version, source=source)  # before it is imported
        return champion_uri(source)
    if model_uri.startswith("models:/"):
        _check_registered(client, model_uri)
    elif not _URI.match(model_uri) and not Path(model_uri).is_dir():
        raise NotFoundError(
            f"--from {model_uri}: no such folder (`leadscore export VERSION` makes one; or give "
            "an MLflow model URI such as models:/lead-scoring/3)"
        )
    return model_uri


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, alias, version) of a `models:/name@alias` or `models:/name/version` URI; neither
    alias nor version for `models:/name` (a logged model id such as `models:/m-...`). The
    version is all after the name, a number or not."""
    if not uri.startswith("models:/"):
        raise ValueError(f"{uri!r} is not a models:/ URI")
    path = uri.removeprefix("models:/")
    name, at, alias = path.partition("@")
    if at:
        return name, alias, None
    name, slash, version = path.partition("/")
    return name, None, version if slash else None


def _check_registered(client: MlflowClient, model_uri: str) -> None:
    """A `models:/name/version` or `models:/name@alias` URI names a registered version."""
    from mlflow.exceptions import MlflowException

    name, alias, version = parse_model_uri(model_uri)
    try:
        if alias is not None:
            client.get_model_version_by_alias(name, alias)
        elif version is not None:
            if not _VERSION.match(version):
                raise ValueError(f"--from {model_uri}: {version!r} is not a version number")
            client.get_model_version(name, version)
    except MlflowException as exc:
        if not _absent(exc):
            raise
        raise NotFoundError(
            f"--from {model_uri}: no such registered version (`leadscore models` lists them)"
        ) from None


def export(client: MlflowClient, version: str, into: Path, *, source: str = DEMO_SOURCE) -> Path:
    """Copy a registered version of the source (MLflow model with its scorer, and the
    registered model and version it is) into `into`/<model name>-v<version>."""
    import mlflow

    name = model_name(source)
    registered_version(client, version, source=source)
    target = into / f"{name}-v{version}"
    mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{version}", dst_path=str(target)
    )
    return target
