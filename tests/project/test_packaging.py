"""One list of pins: constraints.txt. pyproject.toml's dependencies and bentofile.yaml's packages
are checked against it, so the serving image runs the versions the tests ran."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import REPO

# runtime dependencies the serving image leaves out, and why
NOT_IN_THE_IMAGE = {
    "mlflow-skinny": "the image loads its model from the BentoML store, not the registry",
    "alembic": "only mlflow-skinny's SQL store needs it",
    "adbc-driver-sqlite": "columnar reads of batch rescoring",
    "typer": "the command line",
    "rich": "the command line",
    "openpyxl": "Excel imports (`leadscore data import`)",
}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[_name(name)] = version.strip()
    return pins


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _bento_packages() -> dict[str, str]:
    doc = yaml.safe_load((REPO / "bentofile.yaml").read_text())
    packages = {}
    for requirement in doc["python"]["packages"]:
        name, _, version = requirement.partition("==")
        assert version, f"bentofile.yaml: {requirement!r} is not an exact pin"
        packages[_name(name)] = version
    return packages


def test_every_dependency_is_pinned_in_constraints() -> None:
    pins, project = _pins(), _project()
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    missing = sorted({_name(r) for r in wanted} - set(pins))
    assert not missing, f"not pinned in constraints.txt: {missing}"


def test_bentofile_pins_are_the_constraints_pins() -> None:
    pins = _pins()
    drift = {
        name: (version, pins.get(name))
        for name, version in _bento_packages().items()
        if pins.get(name) != version
    }
    assert not drift, f"bentofile.yaml vs constraints.txt (bento, constraints): {drift}"


def test_the_image_has_every_runtime_dependency_it_needs() -> None:
    runtime = {_name(r) for r in _project()["dependencies"]}
    missing = sorted(runtime - set(_bento_packages()) - set(NOT_IN_THE_IMAGE))
    assert not missing, f"bentofile.yaml lacks runtime dependencies {missing}"
    assert set(NOT_IN_THE_IMAGE) <= runtime, "NOT_IN_THE_IMAGE names a package that is not one"


def test_bentofile_names_files_that_exist() -> None:
    doc = yaml.safe_load((REPO / "bentofile.yaml").read_text())
    module, _, service = doc["service"].partition(":")
    source = REPO / (module.replace(".", "/") + ".py")
    assert f"class {service}" in source.read_text()
    for pattern in doc.get("exclude", []):
        assert list(REPO.glob(pattern)), f"bentofile.yaml excludes {pattern}, which matches nothing"
