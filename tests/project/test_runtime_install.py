"""The runtime stands alone: `pip install .` without extras serves and rescores, and never
imports the training stack (scikit-learn, Optuna, SHAP, matplotlib)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

from scoring.model import registry
from scoring.model.predict import OUTPUT_COLUMNS
from tests.conftest import REPO

TRAINING_STACK = ("sklearn", "optuna", "shap", "matplotlib")
AS_OF = "2025-12-31T00:00:00"
SCORE_COLUMNS = (*OUTPUT_COLUMNS, "model_version", "input_hash", "next_check_at")  # not when

# A meta-path finder that refuses the training stack, then the `leadscore` command: whatever a
# runtime command imports, directly or through a library, fails loudly if it is training's.
BLOCKED = textwrap.dedent(
    f"""
    import importlib.abc, importlib.machinery, sys

    class Refuse(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {TRAINING_STACK!r}:
                return importlib.machinery.ModuleSpec(name, self)
            return None

        def create_module(self, spec):
            raise ModuleNotFoundError(f"blocked by the test: {{spec.name}}", name=spec.name)

    sys.meta_path.insert(0, Refuse())
    sys.argv = ["leadscore", *sys.argv[1:]]
    from scoring.cli.main import app
    try:
        app()
    finally:
        loaded = sorted(m for m in {TRAINING_STACK!r} if m in sys.modules)
        print("training modules loaded:", loaded, file=sys.stderr)
    """
)


def _blocked(args: list[str], env: dict | None = None, cwd: Path = REPO) -> str:
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "training modules loaded: []" in done.stderr, done.stderr
    return done.stdout


@pytest.mark.parametrize("command", [["serve", "--help"], ["rescore", "--help"], ["--help"]])
def test_runtime_commands_start_with_the_training_stack_blocked(command: list[str]) -> None:
    assert "Usage" in _blocked(command)


@pytest.fixture(scope="module")
def exported(demo_registry: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model, registered in the session's demo MLflow store, exported to a folder."""
    folder = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", demo_registry["uri"])
        return registry.export(registry.client(), demo_registry["version"], folder / "models")


def _scores(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            f"SELECT {', '.join(SCORE_COLUMNS)} FROM lead_scores ORDER BY lead_id"
        ).fetchall()


def _rescore_args(db: Path, model: Path) -> list[str]:
    config = str(REPO / "configs" / "demo.yaml")
    return ["rescore", "-c", config, "--db", f"sqlite:///{db}", "--model", str(model)]


@pytest.mark.slow
def test_blocked_rescore_with_an_export_scores_like_the_full_install(
    exported: Path, demo_world_db: str, tmp_path: Path
) -> None:
    source = Path(demo_world_db.removeprefix("sqlite:///"))
    blocked, full = tmp_path / "blocked.db", tmp_path / "full.db"
    shutil.copy(source, blocked)
    shutil.copy(source, full)
    options = ["--as-of", AS_OF, "--full", "--workers", "1"]
    _blocked([*_rescore_args(blocked, exported), *options])
    cli = Path(sys.executable).parent / "leadscore"
    reference = [*_rescore_args(full, exported), *options, "--no-monitor"]  # rows to compare
    subprocess.run([str(cli), *reference], check=True, timeout=600)
    assert len(_scores(blocked)) > 1000
    assert _scores(blocked) == _scores(full)


def _runtime_venv(root: Path) -> Path:
    """`pip install .` (no extras) of a copy of the project, pinned by constraints.txt."""
    src = root / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("scoring", "training", "configs"):
        shutil.copytree(REPO / part, src / part, ignore=ignore)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / part, src / part)
    venv.create(root / "venv", with_pip=True)
    python = root / "venv" / "bin" / "python"
    constraints = ["-c", str(REPO / "constraints.txt")]
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    pip.append("--no-compile")  # modules compile on first import instead: 43 s against 76 s
    subprocess.run([*pip, *constraints, str(src)], check=True, timeout=1200)
    return python.parent


@pytest.mark.slow
def test_a_fresh_runtime_install_serves_and_rescores_an_export(
    exported: Path, demo_world_db: str, tmp_path: Path
) -> None:
    bin_ = _runtime_venv(tmp_path)
    # the training stack is not even installed
    probe = "import importlib.util as u, json; print(json.dumps([m for m in %r if u.find_spec(m)]))"
    found = subprocess.run(
        [str(bin_ / "python"), "-c", probe % (TRAINING_STACK,)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(found.stdout) == []
    cli = str(bin_ / "leadscore")
    for command in (["serve", "--help"], ["rescore", "--help"]):
        subprocess.run([cli, *command], check=True, capture_output=True, timeout=120)
    # the training commands say how to get them
    train = subprocess.run([cli, "train", "-c", "x.yaml"], capture_output=True, text=True)
    assert train.returncode == 2 and "pip install 'leadscore[train]'" in train.stderr
    # a real rescore of the demo database with the exported model, same rows as the full install
    db, reference = tmp_path / "leads.db", tmp_path / "reference.db"
    shutil.copy(demo_world_db.removeprefix("sqlite:///"), db)
    shutil.copy(db, reference)
    options = ["--as-of", AS_OF, "--full", "--workers", "2"]
    subprocess.run([cli, *_rescore_args(db, exported), *options], check=True, cwd=tmp_path)
    full = Path(sys.executable).parent / "leadscore"
    rows = [*_rescore_args(reference, exported), *options, "--no-monitor"]  # rows to compare
    subprocess.run([str(full), *rows], check=True)
    assert len(_scores(db)) > 1000
    assert _scores(db) == _scores(reference)
