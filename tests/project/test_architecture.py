"""The layout is enforced, not just written down: import contracts (import-linter, in
pyproject.toml), no prefix-named families of modules, settings read in one place."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

from scoring.settings import Settings
from tests.conftest import REPO

PACKAGES = ("scoring", "training")


def _modules(root: str) -> list[Path]:
    return sorted(p for p in (REPO / root).rglob("*.py") if "__pycache__" not in p.parts)


def test_import_contracts_hold() -> None:
    # training imports scoring, never the reverse; the runtime imports no training dependency;
    # the runtime's stages follow the data flow and serving and batch are independent
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_no_prefix_named_family_of_modules() -> None:
    # a family of files sharing a prefix (rescore_read, rescore_write, ...) is a package
    for folder in {p.parent for root in PACKAGES for p in _modules(root)}:
        stems = [p.stem for p in folder.glob("*.py") if p.stem != "__init__" and "_" in p.stem]
        prefixes = Counter(stem.split("_")[0] for stem in stems)
        families = {prefix: n for prefix, n in prefixes.items() if n >= 3}
        assert not families, f"{folder.relative_to(REPO)}: prefix-named modules {families}"


def test_every_package_says_what_it_holds() -> None:
    for root in PACKAGES:
        for init in (REPO / root).rglob("__init__.py"):
            doc = ast.get_docstring(ast.parse(init.read_text()))
            assert doc, f"{init.relative_to(REPO)} has no docstring"


def _leadscore_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("LEADSCORE_")
        and node.value.replace("_", "").isalnum()
    ]


def test_only_the_settings_module_names_leadscore_variables() -> None:
    allowed = REPO / "scoring" / "settings.py"
    found = {
        str(p.relative_to(REPO)): names
        for root in PACKAGES
        for p in _modules(root)
        if p != allowed and (names := _leadscore_names(p))
    }
    assert not found, f"LEADSCORE_* read outside scoring/settings.py: {found}"


def test_every_setting_is_documented_in_one_table() -> None:
    table = (REPO / "docs" / "settings.md").read_text()
    for name, field in Settings.model_fields.items():
        assert f"`{field.alias}`" in table, f"docs/settings.md does not document {field.alias}"
        assert field.description, f"Settings.{name} has no description"
