"""The BentoML import finds a registered version in the store MLFLOW_TRACKING_URI names now, even
after this process pointed MLflow at another store (a long-lived process, or a test session)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from scoring.model.registry import CHAMPION, champion_uri, model_name
from scoring.serving.store import _registry_meta


def _store_with_champion(folder: Path) -> str:
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    store = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = model_name("demo")
    store.create_registered_model(name)
    version = store.create_model_version(name, source=str(folder / "model"))
    store.set_registered_model_alias(name, CHAMPION, version.version)
    return uri


def test_the_champion_is_read_from_the_store_configured_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    other = f"sqlite:///{tmp_path / 'a' / 'mlflow.db'}"
    configured = _store_with_champion(tmp_path / "b")
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(other)  # an earlier call in this process, another store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", configured)

    meta = _registry_meta(champion_uri())

    assert meta == {"registered_model": model_name("demo"), "version": "1"}
    assert mlflow.get_tracking_uri() == configured
