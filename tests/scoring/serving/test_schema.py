"""The request schema's patterns say exactly what the request model accepts: what schemathesis
(benchmarks/schemathesis.sh) draws from them is accepted, and what they refuse is refused."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from scoring.config import BooleanField, load_config
from scoring.data import values
from scoring.serving import schema
from tests.conftest import REPO

TIMESTAMP = re.compile(values.TIMESTAMP)


@pytest.fixture(scope="module")
def request_model() -> type[BaseModel]:
    return schema.request_model(load_config(REPO / "configs" / "demo.yaml"))


def _problems(model: type[BaseModel], body: dict) -> list[tuple]:
    try:
        model.model_validate_json(json.dumps(body))
    except ValidationError as exc:
        return [e["loc"] for e in exc.errors()]
    return []


@given(stamp=st.from_regex(TIMESTAMP, fullmatch=True))
def test_every_timestamp_the_pattern_allows_is_accepted(
    request_model: type[BaseModel], stamp: str
) -> None:
    """Issue 15: "0001-01-01T00:00:00+14:00" was a date-time to the document and a 400 here."""
    lead = {"lead_id": "x", "events": [{"type": "webinar", "timestamp": stamp}]}
    assert _problems(request_model, {"lead": lead, "as_of": stamp}) == []


@pytest.mark.parametrize(
    "stamp",
    [0, 1.5, "1700000000", "0", "2023-02-29", "2025-06-01T24:00:00Z", "0000-01-01", True],
)
def test_unix_seconds_and_impossible_days_are_refused_as_the_pattern_refuses(
    request_model: type[BaseModel], stamp: object
) -> None:
    """Issue 15: pydantic's lax mode scored `0` and "1700000000" as Unix seconds."""
    assert not (isinstance(stamp, str) and TIMESTAMP.fullmatch(stamp))
    assert _problems(request_model, {"lead": {"lead_id": "x"}, "as_of": stamp}) == [("as_of",)]


def test_a_name_is_blank_exactly_where_the_pattern_finds_no_character() -> None:
    """Issue 15: ECMA's \\S took "\\x1e", which Python strips: the document allowed an event type
    that `scoring.data` then found missing (a 422)."""
    not_space = re.compile(values.NOT_SPACE)
    assert all(
        (not_space.search(chr(c)) is None) == chr(c).isspace()
        for c in range(0x110000)
        if not 0xD800 <= c <= 0xDFFF
    )


@given(text=st.from_regex(values.DECIMAL, fullmatch=True))
def test_every_number_as_text_the_pattern_allows_is_accepted(text: str) -> None:
    assert TypeAdapter(values.Number).validate_python(text) == float(text)


@given(text=st.from_regex(values.UNSIGNED, fullmatch=True))
def test_every_number_as_text_a_minimum_of_0_allows_is_accepted(
    request_model: type[BaseModel], text: str
) -> None:
    assert _problems(request_model, {"lead": {"lead_id": "x", "employees": text}}) == []


@pytest.mark.parametrize("minimum", [0, 18, -10])
def test_a_number_below_the_minimum_is_refused_as_the_document_says(minimum: float) -> None:
    number = TypeAdapter(values.at_least(minimum))
    assert number.validate_python(minimum) == minimum
    assert number.validate_python(str(minimum + 1)) == minimum + 1
    with pytest.raises(ValidationError, match=f"at least {minimum}"):
        number.validate_python(minimum - 0.5)
    branches = number.json_schema()["anyOf"]
    assert {"type": "number", "minimum": minimum} in branches


@given(
    word=st.from_regex(
        schema.yes_no_pattern(BooleanField(column="b", kind="boolean")), fullmatch=True
    )
)
def test_every_yes_no_word_the_pattern_allows_is_read(word: str) -> None:
    field = BooleanField(column="b", kind="boolean")
    assert schema._yes_no(field)(word) in (None, *field.true_values, *field.false_values)


@pytest.mark.parametrize(("option", "value"), [("explain", "yes"), ("explain", 1), ("top", "3")])
def test_options_take_json_types_only(
    request_model: type[BaseModel], option: str, value: object
) -> None:
    """Issue 15: `explain: "yes"` and `top: "3"` were taken though the document said boolean and
    integer."""
    body = {"lead": {"lead_id": "x"}, option: value}
    assert _problems(request_model, body) == [(option,)]
