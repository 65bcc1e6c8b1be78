"""`leadscore serve` as a process: killed by any signal, SIGKILL included, it takes its worker
down with it, so the port is free for the next one; a port in use is one line naming it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.scoring.serving.servers import free_port, running

LEADSCORE = str(Path(sys.executable).parent / "leadscore")


def _gone(pids: list[int], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids):
            return True
        time.sleep(0.2)
    return False


def test_sigkill_of_serve_takes_its_worker_down_and_the_port_serves_again(
    bento_home: Path, tmp_path: Path
) -> None:
    """Finding 5: the worker outlived a SIGKILL of `leadscore serve`, still listening with the
    old model, and a restart on the port failed in a 59-line log. The worker's parse processes
    (`scoring.serving.parse`) go too."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"BENTOML_HOME": str(bento_home), "BENTOML_DO_NOT_TRACK": "true"}
    cmd = [LEADSCORE, "serve", "--no-import", "--port", str(port)]
    with running(cmd, env, tmp_path / "first.log", url) as first:
        workers = [c.pid for c in psutil.Process(first.pid).children(recursive=True)]
        parsers = [
            c.pid
            for c in psutil.Process(first.pid).children(recursive=True)
            if "multiprocessing.spawn" in " ".join(c.cmdline())
        ]
        assert workers and parsers
        busy = subprocess.run(cmd, env=os.environ | env, capture_output=True, text=True)
        assert busy.returncode != 0
        assert busy.stderr.strip().count("\n") == 0 and f"port {port}" in busy.stderr
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        assert _gone(workers), "the worker or a parse process outlived `leadscore serve`"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/livez", timeout=2)
    with running(cmd, env, tmp_path / "second.log", url):
        assert httpx.get(f"{url}/livez").status_code == 200
