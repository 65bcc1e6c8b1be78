"""Config loading: strict keys, types, clear messages that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scoring.config import ConfigError, load_config
from tests.conftest import REPO, TINY_CONFIG


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "source.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(TINY_CONFIG)


def test_unknown_key_is_named_with_the_file(tmp_path: Path, raw: dict) -> None:
    # given a config with a misspelt key under leads.outcome
    raw["leads"]["outcome"]["wonn"] = ["won"]
    path = _write(tmp_path, raw)
    # when it is loaded, then the error names the file, the path of the key and says unknown key
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}: leads.outcome.wonn: unknown key" in str(err.value)


def test_wrong_type_is_named(tmp_path: Path, raw: dict) -> None:
    raw["events"]["half_life_days"] = "two weeks"
    with pytest.raises(
        ConfigError, match=r"events\.half_life_days: Input should be a valid number"
    ):
        load_config(_write(tmp_path, raw))


def test_unknown_feature_kind_is_named(tmp_path: Path, raw: dict) -> None:
    raw["features"]["fit"][1]["kind"] = "category"
    with pytest.raises(ConfigError, match=r"features\.fit\.1: Input tag 'category'"):
        load_config(_write(tmp_path, raw))


def test_option_of_another_kind_is_rejected(tmp_path: Path, raw: dict) -> None:
    # bands belong to numeric fields; on a categorical field they are an unknown key
    raw["features"]["fit"][1]["bands"] = [1, 2]
    with pytest.raises(ConfigError, match=r"features\.fit\.1\.categorical\.bands: unknown key"):
        load_config(_write(tmp_path, raw))


def test_outcome_column_as_feature_is_refused_as_leakage(tmp_path: Path, raw: dict) -> None:
    raw["features"]["fit"].append({"column": "outcome", "kind": "categorical"})
    with pytest.raises(ConfigError, match=r"\['outcome'\] .* would leak the label"):
        load_config(_write(tmp_path, raw))


@pytest.mark.parametrize("key", ["hand_raise", "ready"])
def test_signal_types_must_be_known_event_types(tmp_path: Path, raw: dict, key: str) -> None:
    raw["events"][key] = ["demo_request", "trial"]
    with pytest.raises(ConfigError, match=rf"{key} names unknown event types \['trial'\]"):
        load_config(_write(tmp_path, raw))


def test_capacity_headroom_below_one(tmp_path: Path, raw: dict) -> None:
    raw["costs"] = {"capacity_headroom": 1.0}
    with pytest.raises(ConfigError, match=r"costs.capacity_headroom"):
        load_config(_write(tmp_path, raw))


def test_same_value_cannot_be_won_and_lost(tmp_path: Path, raw: dict) -> None:
    raw["leads"]["outcome"]["lost"] = ["lost", "Won"]
    with pytest.raises(ConfigError, match=r"'Won' is listed in both won and lost"):
        load_config(_write(tmp_path, raw))


def test_config_needs_some_features(tmp_path: Path, raw: dict) -> None:
    raw["features"] = {"fit": [], "intent": []}
    del raw["events"]
    with pytest.raises(ConfigError, match="configure at least one fit or intent column"):
        load_config(_write(tmp_path, raw))


def test_bands_must_ascend(tmp_path: Path, raw: dict) -> None:
    raw["features"]["fit"][2]["bands"] = [500, 50]
    with pytest.raises(ConfigError, match=r"features\.fit\.2\.numeric\.bands: .*ascending"):
        load_config(_write(tmp_path, raw))


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=f"{path}: not valid YAML"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_environment_variables_and_defaults(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(TINY_CONFIG.replace('"sqlite:///unused.db"', "${LS_TEST_DB:-sqlite:///d.db}"))
    assert load_config(path).source.database == "sqlite:///d.db"
    monkeypatch.setenv("LS_TEST_DB", "postgresql+psycopg://u@h/db")
    assert load_config(path).source.database == "postgresql+psycopg://u@h/db"


def test_undefined_environment_variable_is_named(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(TINY_CONFIG.replace('"sqlite:///unused.db"', "${LS_SURELY_UNSET_VAR}"))
    with pytest.raises(ConfigError, match=f"{path}: environment variable LS_SURELY_UNSET_VAR"):
        load_config(path)


def test_event_types_as_a_list_map_to_themselves(tmp_path: Path, raw: dict) -> None:
    raw["events"]["types"] = ["web_visit", "pricing_page", "demo_request"]
    cfg = load_config(_write(tmp_path, raw))
    assert cfg.events is not None
    assert cfg.events.types["pricing_page"] == ["pricing_page"]


def test_relative_files_resolve_against_the_config(tmp_path: Path, raw: dict) -> None:
    raw["source"]["files"] = {"leads": "exports/leads.csv"}
    cfg = load_config(_write(tmp_path, raw))
    assert cfg.source.files["leads"].path == tmp_path / "exports" / "leads.csv"


@pytest.mark.parametrize("name", ["demo", "maven-crm", "snapshot-demo"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert cfg.name == name
    assert cfg.features.fit, "every shipped source has fit features"


def test_config_is_frozen(tiny_config) -> None:
    with pytest.raises(ValueError, match="frozen"):
        tiny_config.name = "other"


def test_yaml_numbers_and_booleans_are_read_as_the_text_a_file_holds(tmp_path: Path) -> None:
    # given 0/1 and yes/no written the way YAML types them (numbers, booleans)
    text = TINY_CONFIG.replace("won: [won], lost: [lost], open: [open]", "won: [1], lost: [0]")
    text = text.replace(
        "{column: newsletter, kind: boolean}",
        "{column: newsletter, kind: boolean, true_values: [Yes, 1], false_values: [No]}",
    )
    path = tmp_path / "source.yaml"
    path.write_text(text.replace("  funnel", "  missing_values: [Select, n/a]\n  funnel"))
    cfg = load_config(path)
    assert (cfg.leads.outcome.won, cfg.leads.outcome.lost) == (["1"], ["0"])
    newsletter = cfg.features.intent[0]
    assert {"yes", "true", "1"} <= set(newsletter.true_values)  # YAML's `Yes` is a boolean
    assert "no" in newsletter.false_values
    assert cfg.leads.missing_values == ["Select", "n/a"]


def test_files_take_reading_options(tmp_path: Path, raw: dict) -> None:
    raw["source"]["files"] = {
        "leads": {"path": "exports/leads.csv", "delimiter": "\\t", "encoding": "latin-1"},
        "accounts": "exports/accounts.xlsx",
    }
    cfg = load_config(_write(tmp_path, raw))
    leads = cfg.source.files["leads"]
    assert (leads.delimiter, leads.encoding) == ("\t", "latin-1")
    assert leads.path == tmp_path / "exports" / "leads.csv"
    raw["source"]["files"]["leads"]["delimiter"] = ";;"
    with pytest.raises(ConfigError, match="delimiter"):
        load_config(_write(tmp_path, raw))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"num_leafs": 5}, "'num_leafs' is not a LightGBM parameter"),
        ({"lambda_l2": -1}, r"LightGBM refuses these settings: Check failed: \(lambda_l2\) >= "),
        ({"boosting": "dartx"}, "LightGBM refuses these settings: Unknown boosting type dartx"),
        ({"objective": "regression"}, "'objective' is set by the training recipe"),
        ({"n_estimators": 50}, "'n_estimators' is set by the training recipe"),
    ],
)
def test_lightgbm_settings_are_checked_when_the_config_loads(
    tmp_path: Path, raw: dict, settings: dict, message: str
) -> None:
    """A typo LightGBM would only warn about, or a value it refuses after minutes of training,
    is named with the field before anything runs."""
    raw["training"] = {"lightgbm": settings}
    with pytest.raises(ConfigError, match=rf"training\.lightgbm: .*{message}"):
        load_config(_write(tmp_path, raw))


def test_lightgbm_settings_lightgbm_takes_load(tmp_path: Path, raw: dict) -> None:
    settings = {"lambda_l2": 0, "learning_rate": 0.05, "boosting": "gbdt", "max_bin": 63}
    raw["training"] = {"lightgbm": settings}
    assert load_config(_write(tmp_path, raw)).training.lightgbm == settings
