"""Validation keeps bad rows aside with a reason naming the field; good rows pass typed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from scoring.config import Config, ConfigError, load_config
from scoring.data.load import event_arrays_from_records, lead_arrays_from_records
from scoring.data.parse import parse_numbers, parse_text, parse_timestamps
from scoring.data.validation import (
    check_leads,
    check_outcome_values,
    validate_events,
    validate_leads,
)
from tests.conftest import TINY_CONFIG, tiny_tables


def _raw_leads() -> pd.DataFrame:
    t = tiny_tables()
    return t["leads"].merge(t["accounts"], on="account_id", how="left")


def test_clean_rows_are_typed(tiny_config: Config) -> None:
    leads, rejects = validate_leads(tiny_config, _raw_leads())
    assert rejects.empty
    assert list(leads.meta.index) == ["L1", "L2", "L3", "L4"]
    assert leads.meta["label"].tolist()[:2] == [1.0, 0.0]
    assert leads.meta["label"].iloc[2:].isna().all()
    assert leads.meta.loc["L4", "created_at"] == pd.Timestamp("2025-02-10 08:30")
    assert leads.meta.loc["L1", "mql_at"] == pd.Timestamp("2025-01-10")
    assert leads.inputs["newsletter"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(leads.inputs.loc["L3", "newsletter"])
    assert leads.inputs.loc["L1", "employees"] == 1200.0


def test_bad_rows_are_rejected_with_reasons(tiny_config: Config) -> None:
    # given rows with a duplicate id, a bad date, an unknown outcome, a bad number and a bad boolean
    raw = _raw_leads().astype(object)
    raw.loc[1, "lead_id"] = "L1"
    raw.loc[2, "created_at"] = "last tuesday"
    raw.loc[2, "outcome"] = "pending"
    raw.loc[3, "employees"] = "lots"
    raw.loc[3, "newsletter"] = "maybe"
    # when validated
    leads, rejects = validate_leads(tiny_config, raw)
    # then only the first L1 survives and each bad row says what is wrong with which field
    assert list(leads.meta.index) == ["L1"]
    by_row = rejects.set_index(rejects["row"].map(lambda r: json.loads(r)["title"]))
    assert by_row.loc["Marketing Intern", "reason"] == (
        "lead id 'L1' appears more than once (kept the first row)"
    )
    assert by_row.loc["n/a", "fields"] == "created_at, outcome"
    assert "'last tuesday' is not a date" in by_row.loc["n/a", "reason"]
    assert "'pending' is not a known outcome" in by_row.loc["n/a", "reason"]
    assert by_row.loc["Head of RevOps", "reason"] == (
        "'lots' is not a number; 'maybe' is not a yes/no value"
    )
    # and the rejected row is kept whole for the error table
    assert json.loads(by_row.loc["Head of RevOps", "row"])["employees"] == "lots"


def test_missing_id_and_negative_revenue(tiny_config: Config) -> None:
    raw = _raw_leads().astype(object)
    raw.loc[0, "revenue"] = -5
    raw.loc[1, "lead_id"] = "  "
    leads, rejects = validate_leads(tiny_config, raw)
    assert sorted(rejects["reason"]) == ["'-5' is negative", "missing lead id"]
    assert len(leads.meta) == 2


def test_numeric_ids_become_strings(tiny_config: Config) -> None:
    raw = _raw_leads()
    raw["lead_id"] = [101, 102, 103, 104]
    leads, _ = validate_leads(tiny_config, raw)
    assert list(leads.meta.index) == ["101", "102", "103", "104"]


def test_events_map_raw_types_and_reject_bad_rows(tiny_config: Config) -> None:
    raw = tiny_tables()["activities"].astype(object)
    raw.loc[0, "occurred_at"] = "not a time"
    raw.loc[1, "lead_id"] = None
    events, rejects = validate_events(tiny_config, raw)
    assert len(events) == len(raw) - 2
    assert sorted(rejects["reason"]) == ["'not a time' is not a date", "missing lead id"]
    # raw "Pricing Page Visit" is the configured pricing_page; unconfigured "webinar" is "other"
    assert events["event_type"].tolist() == [
        "demo_request",
        "web_visit",
        "other",
        "pricing_page",
        "web_visit",
    ]


def _one_by_one(parse, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`parse` applied to each value alone: the path of a lead posted in real time."""
    parts = [parse(values[i : i + 1]) for i in range(len(values))]
    return np.concatenate([p for p, _ in parts]), np.concatenate([b for _, b in parts])


def test_a_large_column_parses_like_its_values_one_by_one() -> None:
    # given thousands of values (the vectorised paths) mixing good, blank, odd and bad ones
    rng = np.random.default_rng(3)
    texts = [
        "2025-01-02 03:04:05.000006",
        "2025-01-02T03:04:05+02:00",
        "2025-01-02",
        " 2025-01-02 ",
        "02/01/2025 10:00",
        "last tuesday",
        "",
        None,
        np.nan,
        "2025-13-01",
    ]
    stamps = [
        datetime(2025, 1, 2, 3, 4, 5, 6),
        datetime(2025, 1, 2, tzinfo=timezone(timedelta(hours=2))),
        None,
    ]
    numbers = [1, 2.5, None, np.nan, "3", " 4.5 ", "lots", "", True]
    for parse, pool in (
        (parse_timestamps, texts),
        (parse_timestamps, stamps),
        (parse_numbers, numbers),
        (parse_numbers, [1, 2.5, None, np.nan, np.int64(7)]),
    ):
        values = np.array([pool[i] for i in rng.integers(0, len(pool), 3000)], dtype=object)
        # then they parse to the same values and the same bad rows as one by one
        parsed, bad = parse(values)
        alone, alone_bad = _one_by_one(parse, values)
        np.testing.assert_array_equal(parsed, alone)
        np.testing.assert_array_equal(bad, alone_bad)
    words = np.array([["a", " b ", "", None][i] for i in rng.integers(0, 4, 3000)], dtype=object)
    alone = [parse_text(np.array([w], dtype=object))[0] for w in words]
    assert parse_text(words).tolist() == alone


def test_numeric_dates_are_read_in_the_order_their_column_shows() -> None:
    def read(*texts: str) -> list[str]:
        parsed, bad = parse_timestamps(np.array(texts, dtype=object))
        return ["bad" if b else str(p)[:10] for p, b in zip(parsed, bad, strict=True)]

    # a day over 12 in one value says the column is day first: 01/11 is the 1st of November
    assert read("20/10/2016", "01/11/2016", "05.05.2016") == [
        "2016-10-20",
        "2016-11-01",
        "2016-05-05",
    ]
    # one over 12 in second place says month first, as nothing does
    assert read("10/20/2016", "01/11/2016") == ["2016-10-20", "2016-01-11"]
    assert read("01/11/2016 10:30") == ["2016-01-11"]
    # both: the column mixes orders, and what reads either way is not guessed
    assert read("20/10/2016", "10/20/2016", "03/04/2016", "04/04/2016", "2016-01-02") == [
        "2016-10-20",
        "2016-10-20",
        "bad",
        "2016-04-04",
        "2016-01-02",
    ]


def test_placeholders_mean_missing(tiny_config: Config) -> None:
    # given a form's "Select" in a category and "unknown" in a number, for the source and a field
    leads = tiny_config.leads.model_copy(update={"missing_values": ["Select"]})
    fit = list(tiny_config.features.fit)
    fit[2] = fit[2].model_copy(update={"missing_values": ["unknown"]})
    features = tiny_config.features.model_copy(update={"fit": fit})
    cfg = tiny_config.model_copy(update={"leads": leads, "features": features})
    raw = _raw_leads().astype(object)
    raw.loc[0, "vertical"] = " select "
    raw.loc[1, "employees"] = "Unknown"
    valid, rejects = validate_leads(cfg, raw)
    # then both are missing values, not categories or bad numbers
    assert rejects.empty
    assert pd.isna(valid.inputs.loc["L1", "vertical"])
    assert np.isnan(valid.inputs.loc["L2", "employees"])


def test_an_outcome_value_matching_no_row_lists_the_common_values(tiny_config: Config) -> None:
    outcome = tiny_config.leads.outcome.model_copy(update={"won": ["closed won"]})
    leads = tiny_config.leads.model_copy(update={"outcome": outcome})
    cfg = tiny_config.model_copy(update={"leads": leads})
    with pytest.raises(ConfigError, match=r"leads.outcome.won: .*most common values: 'open' \(2\)"):
        check_outcome_values(cfg, _raw_leads())
    check_outcome_values(tiny_config, _raw_leads())  # the tiny config's values are there


BLANK_IDS = ["   ", "\t", " \n ", ""]


def _records(raw: pd.DataFrame) -> list[dict]:
    """Rows as the real-time endpoint hands them to validation (config column -> value)."""
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for _, row in raw.iterrows()]


@pytest.mark.parametrize("blank", BLANK_IDS)
def test_a_blank_lead_id_is_missing_in_batch_and_in_real_time(
    tiny_config: Config, blank: str
) -> None:
    # given a lead whose id is only spaces, and one with spaces around its id
    raw = _raw_leads().drop(columns="account_id").astype(object)
    raw.loc[1, "lead_id"] = blank
    raw.loc[2, "lead_id"] = "  L3 "
    # when validated by the batch path and by the function the real-time service calls
    batch, rejects = validate_leads(tiny_config, raw)
    arrays, problems, _ = lead_arrays_from_records(tiny_config, _records(raw))
    # then both reject the blank one as missing and strip the other
    assert rejects["reason"].tolist() == ["missing lead id"]
    assert [(row, fields, reason) for row, fields, reason in problems.messages()] == [
        (1, "lead_id", "missing lead id")
    ]
    assert list(batch.meta.index) == arrays.ids.tolist() == ["L1", "L3", "L4"]


def test_lead_rows_without_a_configured_column_are_a_config_error(tiny_config: Config) -> None:
    raw = _raw_leads().drop(columns=["mql_at", "vertical"])
    with pytest.raises(ConfigError, match=r"lead rows lack configured columns \['mql_at', 'vert"):
        validate_leads(tiny_config, raw)
    columns = {c: raw[c].to_numpy(dtype=object) for c in raw.columns}
    with pytest.raises(ConfigError, match="lack configured columns"):
        check_leads(tiny_config, columns)


def test_the_request_schema_refuses_a_blank_lead_id(tiny_config: Config) -> None:
    from pydantic import ValidationError

    from scoring.serving.schema import lead_model

    with pytest.raises(ValidationError) as refused:
        lead_model(tiny_config).model_validate({"lead_id": "   "})
    [error] = refused.value.errors()
    assert error["loc"] == ("lead_id",) and "blank" in error["msg"]


def test_events_without_a_lead_id_or_a_type_are_rejected_with_the_field(
    tiny_config: Config,
) -> None:
    raw = tiny_tables()["activities"].astype(object)
    raw.loc[0, "event_type"] = None
    raw.loc[1, "event_type"] = "  "
    raw.loc[2, "lead_id"] = None
    events, rejects = validate_events(tiny_config, raw)
    assert len(events) == len(raw) - 3
    assert rejects[["fields", "reason"]].values.tolist() == [
        ["event_type", "missing event type"],
        ["event_type", "missing event type"],
        ["lead_id", "missing lead id"],
    ]
    # the real-time form of the same events says the same
    _, problems, _ = event_arrays_from_records(tiny_config, _records(raw))
    assert [reason for _, _, reason in problems.messages()] == rejects["reason"].tolist()


def _with_min(cfg: Config, column: str, low: float) -> Config:
    fit = [f.model_copy(update={"min": low}) if f.column == column else f for f in cfg.features.fit]
    return cfg.model_copy(update={"features": cfg.features.model_copy(update={"fit": fit})})


def test_a_number_below_its_configured_minimum_is_rejected_naming_the_field(
    tiny_config: Config, tmp_path
) -> None:
    raw = _raw_leads().astype(object)
    raw.loc[1, "employees"] = -30
    # without a minimum a negative number is a number
    leads, rejects = validate_leads(tiny_config, raw)
    assert rejects.empty and leads.inputs.loc["L2", "employees"] == -30
    # with `min: 0` (a count) it is an error for that field, in batch and in real time
    cfg = _with_min(tiny_config, "employees", 0)
    leads, rejects = validate_leads(cfg, raw)
    assert rejects[["lead_id", "fields", "reason"]].values.tolist() == [
        ["L2", "employees", "'-30' is below the minimum 0"]
    ]
    assert "L2" not in leads.meta.index
    _, problems, _ = lead_arrays_from_records(cfg, _records(raw.drop(columns="account_id")))
    assert problems.messages() == [(1, "employees", "'-30' is below the minimum 0")]
    # and the key is read from YAML, numbers only
    text = TINY_CONFIG.replace("kind: numeric, bands", "kind: numeric, min: 0, bands")
    path = tmp_path / "min.yaml"
    path.write_text(text)
    assert load_config(path).features.fit[2].min == 0
    path.write_text(text.replace("min: 0", "min: none"))
    with pytest.raises(ConfigError, match="min"):
        load_config(path)
