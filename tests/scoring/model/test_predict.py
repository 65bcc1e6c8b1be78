"""The table contract of the registered model (`score_table`, the MLflow pyfunc): leads sent as
strings and as typed columns (numbers, booleans, timestamps, missing values) score the same."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

import scoring
from scoring.model.predict import OUTPUT_COLUMNS, lead_records, score_table
from scoring.model.scorer import LeadScorer
from tests.training.pipeline.bank_world import bank_leads, train_bank
from training.tracking import _MODEL_CODE, input_example, input_signature, pyfunc_parts

AS_OF = "2025-01-15T12:00:00Z"


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> LeadScorer:
    return train_bank(tmp_path_factory.mktemp("bank")).scorer


@pytest.fixture
def as_strings() -> pd.DataFrame:
    """Eight leads the way the export writes them, one with its optional fields left empty."""
    frame = bank_leads().iloc[:8].drop(columns=["created_at", "y"]).astype(str)
    frame["as_of"] = AS_OF
    frame.loc[frame.index[0], ["age", "previous", "branch", "housing", "last_contact"]] = None
    return frame


def typed(strings: pd.DataFrame) -> pd.DataFrame:
    """The same leads as a typed frame: numbers, a float column of codes with a gap, booleans
    with a missing one, dates (naive, and the scoring time with a zone)."""
    frame = strings.assign(
        age=pd.to_numeric(strings["age"]),
        previous=pd.to_numeric(strings["previous"]).astype("Int64"),
        branch=pd.to_numeric(strings["branch"]),
        housing=strings["housing"].map({"ja": True, "nein": False}).astype(object),
        last_contact=pd.to_datetime(strings["last_contact"]),
        as_of=pd.Timestamp("2025-01-15 13:00", tz="Europe/Paris"),
    )
    assert frame["branch"].dtype == np.float64 and pd.isna(frame["housing"].iloc[0])
    return frame


def test_typed_columns_score_as_their_strings(scorer: LeadScorer, as_strings) -> None:
    expected = score_table(scorer, as_strings)
    assert list(expected.columns) == OUTPUT_COLUMNS
    assert expected["win_probability"].nunique() == len(as_strings)  # the fields matter
    pd.testing.assert_frame_equal(score_table(scorer, typed(as_strings)), expected)


def test_numeric_lead_ids_are_the_ids_they_spell(scorer: LeadScorer, as_strings) -> None:
    numbered = as_strings.assign(lead_id=[str(100 + i) for i in range(len(as_strings))])
    as_ints = numbered.assign(lead_id=range(100, 100 + len(as_strings)))
    as_floats = numbered.assign(lead_id=[float(100 + i) for i in range(len(as_strings))])
    expected = score_table(scorer, numbered)
    assert expected["lead_id"].tolist() == numbered["lead_id"].tolist()
    pd.testing.assert_frame_equal(score_table(scorer, as_ints), expected)
    pd.testing.assert_frame_equal(score_table(scorer, as_floats), expected)


def test_records_hold_what_the_typed_values_stand_for(scorer: LeadScorer, as_strings) -> None:
    records = lead_records(scorer.config, typed(as_strings))
    first, second = records[0], records[1]
    # missing in any form is None; a yes/no takes the field's own spelling ("ja" / "nein")
    assert {first[c] for c in ("age", "previous", "branch", "housing", "last_contact")} == {None}
    assert second["housing"] == as_strings["housing"].iloc[1]
    # a whole number in a text field is its digits; numbers and dates stay typed
    assert second["branch"] == as_strings["branch"].iloc[1]
    assert second["age"] == float(as_strings["age"].iloc[1])
    assert second["last_contact"] == pd.Timestamp(as_strings["last_contact"].iloc[1])
    # and fields the frame does not hold are missing
    only_id = lead_records(scorer.config, as_strings[["lead_id"]])
    assert set(only_id[0]) == {"lead_id", "job", "age", "customer_ref", "branch", "housing",
                               "previous", "last_contact"}  # fmt: skip
    assert only_id[0]["job"] is None


def _pyfunc(scorer: LeadScorer, folder: Path, signature: ModelSignature):
    """The registered pyfunc, saved with `signature` (no pip inference: nothing is installed)."""
    scorer.save(folder / "scorer")
    mlflow.pyfunc.save_model(
        str(folder / "model"),
        python_model=str(_MODEL_CODE),
        artifacts={"scorer": str(folder / "scorer")},
        code_paths=[str(Path(scoring.__file__).parent)],
        signature=signature,
        pip_requirements=[],
    )
    return mlflow.pyfunc.load_model(str(folder / "model"))


def test_the_logged_signature_lets_typed_columns_through(
    scorer: LeadScorer, as_strings, tmp_path: Path
) -> None:
    signature = input_signature(scorer.config, score_table(scorer, input_example(scorer.config)))
    model = _pyfunc(scorer, tmp_path / "any", signature)
    expected = score_table(scorer, as_strings)
    pd.testing.assert_frame_equal(model.predict(as_strings), expected)
    pd.testing.assert_frame_equal(model.predict(typed(as_strings)), expected)
    # a lead id alone is enough: every other column may be left out
    assert len(model.predict(as_strings[["lead_id"]])) == len(as_strings)


def test_string_columns_in_the_signature_would_refuse_typed_input(
    scorer: LeadScorer, as_strings, tmp_path: Path
) -> None:
    # why the signature declares Any: MLflow enforces a declared type before predict runs
    names = [c.name for c in input_signature(scorer.config, pd.DataFrame({"x": [1]})).inputs]
    strings_only = ModelSignature(inputs=Schema([ColSpec("string", n) for n in names]))
    model = _pyfunc(scorer, tmp_path / "strings", strings_only)
    assert len(model.predict(as_strings)) == len(as_strings)
    with pytest.raises(MlflowException, match="Incompatible input types"):
        model.predict(typed(as_strings))


# Loads a saved pyfunc (argv[1]) with only the distributions its requirements.txt names (and
# what they require), the interpreter's own modules and its shipped code importable; scores the
# leads in argv[2] into argv[3]; prints the top-level modules it refused.
ONLY_REQUIREMENTS = textwrap.dedent(
    """
    import importlib.abc, importlib.machinery, sys
    from importlib import metadata
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    model, leads, out = sys.argv[1:]
    todo = [Requirement(r).name for r in open(f"{model}/requirements.txt").read().split()]
    allowed = set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name not in allowed:
            allowed.add(name)
            for line in metadata.requires(name) or []:
                req = Requirement(line)
                if req.marker is None or req.marker.evaluate({"extra": ""}):
                    todo.append(req.name)
    owners = metadata.packages_distributions()
    refused = set()

    class OnlyRequirements(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            top = name.split(".")[0]
            dists = {canonicalize_name(d) for d in owners.get(top, [])}
            if not dists or top == "scoring" or dists & allowed:  # no dists: the interpreter's
                return None
            refused.add(top)
            return importlib.machinery.ModuleSpec(name, self)

        def create_module(self, spec):
            raise ModuleNotFoundError(f"not in requirements.txt: {spec.name}", name=spec.name)

        def exec_module(self, module):  # never reached: without it, the legacy path runs
            pass

    sys.meta_path.insert(0, OnlyRequirements())
    import mlflow, pandas as pd
    mlflow.pyfunc.load_model(model).predict(pd.read_parquet(leads)).to_parquet(out)
    print("refused:", sorted(refused))
    """
)


def test_the_pyfunc_loads_and_scores_with_its_requirements_alone(
    scorer: LeadScorer, as_strings, tmp_path: Path
) -> None:
    # given the registered pyfunc saved with its declared requirements
    scorer.save(tmp_path / "scorer")
    mlflow.pyfunc.save_model(str(tmp_path / "model"), **pyfunc_parts(scorer, tmp_path / "scorer"))
    requirements = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert not any(r.startswith(("leadscore", "scikit-learn")) for r in requirements)
    as_strings.to_parquet(tmp_path / "leads.parquet")
    # when it loads and scores in a process where nothing else can be imported
    done = subprocess.run(
        [sys.executable, "-c", ONLY_REQUIREMENTS, str(tmp_path / "model"),
         str(tmp_path / "leads.parquet"), str(tmp_path / "scored.parquet")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # then it scores as the scorer does, and the guard did refuse what is not required
    assert done.returncode == 0, done.stderr[-3000:]
    assert "'sklearn'" in done.stdout  # installed here (training), imported by LightGBM if found
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    pd.testing.assert_frame_equal(scored, score_table(scorer, as_strings))
