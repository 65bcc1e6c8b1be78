"""The service's worker process ends with the server process that started it.

`bentoml serve` (what `leadscore serve` becomes) is a supervisor that binds the port and starts
a worker process serving on that socket. Killed with SIGKILL, the supervisor cannot stop its
worker: the worker lived on, orphaned, serving the old model on the port, and the next `leadscore
serve` on that port failed. On Linux the worker asks the kernel for a SIGTERM when its parent
dies (prctl PR_SET_PDEATHSIG), whatever signal killed the parent.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys

logger = logging.getLogger("leadscore.service")

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WORKER_MODULE = "_bentoml_impl.worker.service"  # `python -m` of a BentoML worker


def is_bentoml_worker() -> bool:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec is not None and spec.name == WORKER_MODULE


def end_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Have the kernel send `sig` to this process when its parent dies; True when set. A parent
    already gone (the process was re-parented) gets the signal at once."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        return False
    if os.getppid() != parent:  # the parent died between getppid and prctl
        os.kill(os.getpid(), sig)
    return True


def stop(proc: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM (the server's graceful shutdown), SIGKILL after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
