"""Training against a real `mlflow server` whose backend store is PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.model import registry
from training import tracking
from training.pipeline.run import TrainResult


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(postgres_engine: sa.Engine, tmp_path: Path, monkeypatch) -> Iterator[str]:
    port = _free_port()
    backend = postgres_engine.url.render_as_string(hide_password=False)
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [
            str(mlflow_bin),
            "server",
            "--backend-store-uri",
            backend,
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"mlflow server exited: {server.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not answer /health within 90 s")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.chdir(tmp_path)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_register_promote_and_load_through_the_server(
    trained: TrainResult, mlflow_server: str, postgres_engine: sa.Engine
) -> None:
    run_id, version = tracking.log_training(trained, {}, register=True)
    client = registry.setup()
    registry.promote(client, version)
    # the run, the version and the alias live in PostgreSQL
    with postgres_engine.connect() as conn:
        aliases = conn.execute(sa.text("SELECT alias, version FROM registered_model_aliases")).all()
    assert [(a, str(v)) for a, v in aliases] == [("champion", version)]
    model = mlflow.pyfunc.load_model("models:/lead-scoring@champion")
    rows = pd.DataFrame({"lead_id": ["a", "b"], "title": ["VP Sales", "Intern"]})
    scores = model.predict(rows)
    assert scores["fit_score"].iloc[0] > scores["fit_score"].iloc[1]
    assert client.get_run(run_id).data.params["source"] == "demo"
