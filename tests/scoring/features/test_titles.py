"""Free-text titles normalise to seniority and department the way a sales rep reads them."""

from __future__ import annotations

import pytest

from scoring.features.titles import normalise_title


@pytest.mark.parametrize(
    ("title", "seniority", "department"),
    [
        ("VP Sales", "vp", "sales"),
        ("Vice President, Sales", "vp", "sales"),
        ("vp of sales", "vp", "sales"),
        ("SVP Revenue", "vp", "sales"),
        ("Chief Revenue Officer", "c_level", "sales"),
        ("CRO", "c_level", "sales"),
        ("Founder & CEO", "c_level", "general_management"),
        ("Owner", "c_level", "general_management"),
        ("Head of Growth", "director", "marketing"),
        ("Sr. Dir. Demand Gen", "director", "marketing"),
        ("Director of Marketing", "director", "marketing"),
        ("sales ops mgr", "manager", "revops"),
        ("Revenue Operations Manager", "manager", "revops"),
        ("RevOps Lead", "manager", "revops"),
        ("Account Executive", "individual", "sales"),
        ("SDR", "individual", "sales"),
        ("Executive Assistant", "entry", "other"),
        ("Marketing Intern", "entry", "marketing"),
        ("Intern", "entry", "other"),
        ("Student", "entry", "other"),
        ("IT Manager", "manager", "it"),
        ("CTO", "c_level", "engineering"),
        ("Software Engineer", "individual", "engineering"),
        ("CFO", "c_level", "finance"),
        ("Controller", "manager", "finance"),
        ("HR Generalist", "individual", "hr"),
        ("n/a", "unknown", "unknown"),
        ("", "unknown", "unknown"),
        ("test", "unknown", "unknown"),
        (None, "unknown", "unknown"),
    ],
)
def test_title_normalisation(title: str | None, seniority: str, department: str) -> None:
    assert normalise_title(title) == (seniority, department)


def test_case_and_punctuation_do_not_matter() -> None:
    assert normalise_title("  V.P.   SALES ") == normalise_title("vp sales") == ("vp", "sales")


def test_agrees_with_the_labelled_vocabulary_of_the_synthetic_crm() -> None:
    from training.synthetic.titles import TITLES

    wrong = [(t, s, d, normalise_title(t)) for t, s, d in TITLES if normalise_title(t) != (s, d)]
    assert len(TITLES) >= 80
    assert wrong == []


def test_words_that_say_nothing_are_unknown() -> None:
    assert normalise_title("asdf") == ("unknown", "unknown")
    assert normalise_title("Marketing") == ("unknown", "marketing")
