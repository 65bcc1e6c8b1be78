"""`models:/` URIs read in one place, for the registry checks of `leadscore serve --from` and the
labels the service's model store keeps."""

from __future__ import annotations

import pytest

from scoring.model.registry import parse_model_uri


@pytest.mark.parametrize(
    ("uri", "parts"),
    [
        ("models:/lead-scoring@champion", ("lead-scoring", "champion", None)),
        ("models:/lead-scoring-maven-crm/3", ("lead-scoring-maven-crm", None, "3")),
        ("models:/lead-scoring/abc", ("lead-scoring", None, "abc")),  # the caller judges it
        ("models:/m-0123456789abcdef", ("m-0123456789abcdef", None, None)),  # a logged model
    ],
)
def test_a_model_uri_is_its_name_and_alias_or_version(
    uri: str, parts: tuple[str, str | None, str | None]
) -> None:
    assert parse_model_uri(uri) == parts


@pytest.mark.parametrize("uri", ["runs:/abc/model", "/exports/lead-scoring-v3", "lead-scoring/3"])
def test_anything_else_is_not_a_model_uri(uri: str) -> None:
    with pytest.raises(ValueError, match="not a models:/ URI"):
        parse_model_uri(uri)
