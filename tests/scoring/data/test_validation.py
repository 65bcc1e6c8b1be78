"""Validation keeps bad rows aside with a reason naming the field; good rows pass typed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from scoring.config import Config, ConfigError
from scoring.data.parse import parse_numbers, parse_text, parse_timestamps
from scoring.data.validation import check_outcome_values, validate_events, validate_leads
from tests.conftest import tiny_tables


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
