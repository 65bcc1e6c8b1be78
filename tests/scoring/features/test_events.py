"""Events resolved against leads, taken for a subset of the leads: each copy of a lead (the
replay's moments) gets exactly its own lead's events, in their order."""

from __future__ import annotations

import numpy as np

from scoring.features.events import Events


def _events() -> Events:
    # leads 1, 0, 1, 0, 1 (lead 2 has none); kinds tell the events apart
    lead = np.array([1, 0, 1, 0, 1])
    days = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    when = (days * 86_400e6).astype("datetime64[us]")
    return Events(lead, np.array([10, 20, 11, 21, 12]), when, days)


def test_each_copy_of_a_lead_gets_its_events_in_their_order() -> None:
    got = _events().subset(np.array([1, 0, 2, 1]))  # b, a, c (no events), b again
    assert got.lead.tolist() == [0, 0, 0, 1, 1, 3, 3, 3]
    assert got.kind.tolist() == [10, 11, 12, 20, 21, 10, 11, 12]
    assert got.days.tolist() == [5.0, 3.0, 1.0, 4.0, 2.0, 5.0, 3.0, 1.0]
    assert np.array_equal(got.when, (got.days * 86_400e6).astype("datetime64[us]"))


def test_leads_left_out_take_their_events_with_them() -> None:
    got = _events().subset(np.array([2]))
    assert len(got.lead) == len(got.kind) == len(got.when) == len(got.days) == 0
    assert _events().subset(np.array([0])).kind.tolist() == [20, 21]


def test_no_events_at_all() -> None:
    none = Events(
        np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0, "datetime64[us]"), np.empty(0)
    )
    assert len(none.subset(np.array([0, 1, 1])).lead) == 0
