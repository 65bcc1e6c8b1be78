"""PSI against a training profile: no change reads 0, a new category, a field that stopped
being filled and a shifted number each show on their own feature."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scoring.features import FeatureInfo
from scoring.monitoring.drift import OTHER, build_profile, compare, psi, shares_now

SPEC = [
    FeatureInfo("size", "fit", "numeric", "size", "Company size"),
    FeatureInfo("source", "intent", "categorical", "source", "Lead source"),
]


def _leads(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "size": rng.lognormal(4 + shift, 1, n),
            "source": rng.choice(["webinar", "referral", "paid"], n, p=[0.5, 0.3, 0.2]),
        }
    )


@pytest.fixture(scope="module")
def profile() -> dict:
    then = _leads(5_000, 0)
    return build_profile(then, np.random.default_rng(1).beta(1, 20, 5_000), SPEC)


def test_the_profile_is_json_and_its_shares_sum_to_one(profile: dict) -> None:
    assert json.loads(json.dumps(profile)) == profile
    for entry in (*profile["features"].values(), profile["score"]):
        assert sum(entry["shares"]) == pytest.approx(1.0)
    assert profile["features"]["size"]["group"] == "fit"
    assert len(profile["features"]["size"]["edges"]) == 9


def test_the_same_world_reads_no_drift(profile: dict) -> None:
    found = compare(profile, _leads(3_000, 2), np.random.default_rng(3).beta(1, 20, 3_000))
    assert found["score_psi"] < 0.02
    assert all(f["psi"] < 0.02 for f in found["features"])


def test_each_shift_shows_on_its_own_feature(profile: dict) -> None:
    now = _leads(3_000, 2)
    now.loc[:1_500, "source"] = "podcast"  # a source training never saw
    now.loc[:, "size"] = np.nan  # the field stopped being filled
    found = {f["feature"]: f for f in compare(profile, now, np.full(3_000, 0.3))["features"]}
    assert found["source"]["psi"] > 0.25 and found["size"]["psi"] > 0.25
    assert found["size"]["missing_reference"] == 0 and found["size"]["missing_now"] == 1
    entry = profile["features"]["source"]
    assert OTHER not in entry["categories"]
    assert shares_now(entry, pd.Series(["podcast", None]))[-2:] == [0.5, 0.5]  # other, missing


def test_psi_is_symmetric_in_form_and_zero_on_equal_shares() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert psi([0.9, 0.1], [0.5, 0.5]) == pytest.approx(psi([0.5, 0.5], [0.9, 0.1]))
    assert psi([1.0, 0.0], [0.0, 1.0]) == pytest.approx(2 * (1 - 1e-4) * np.log(1 / 1e-4))
