"""Real servers for the tests: a subprocess on a free port, ready when /readyz answers 200."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from scoring.serving.process import stop
from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(proc: subprocess.Popen, url: str, log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert proc.poll() is None, f"server exited: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"not ready: {log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)


@contextmanager
def running(cmd: list[str], env: dict[str, str], log: Path, url: str) -> Iterator[subprocess.Popen]:
    """`cmd` started (output in `log`), ready, then stopped."""
    with log.open("a") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=os.environ | env, stdout=out, stderr=out)
    try:
        wait_ready(proc, url, log)
        yield proc
    finally:
        stop(proc)


@contextmanager
def asgi_client(service_class: Any) -> Iterator[TestClient]:
    """The service in process (BentoML's ASGI app), once /readyz answers 200. A second app in
    one process would register BentoML's request metrics again: its old ones go first."""
    from prometheus_client import REGISTRY

    for collector, names in list(REGISTRY._collector_to_names.items()):
        if any(name.startswith("bentoml_") for name in names):
            REGISTRY.unregister(collector)
    with TestClient(service_class.to_asgi()) as client:
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service never became ready"
            time.sleep(0.2)
        yield client
