"""The replay timeline hands each moment exactly its own lead's events."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.thresholds.timeline import _events_by_lead, _events_per_moment


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": ["b", "a", "zz", "b", "a", "b"],
            "event_type": ["visit", "email", "visit", "demo", "visit", "form"],
            "occurred_at": pd.to_datetime(
                ["2024-01-02", "2024-01-01", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-06"]
            ),
        }
    )


def test_each_moment_gets_its_leads_events_in_their_order() -> None:
    events, ids = _events(), pd.Index(["a", "b", "c"])
    lead = np.array([1, 0, 2, 1])  # b, a, c (no events), b again
    snap = pd.Index(["m0", "m1", "m2", "m3"], name="lead_id")

    got = _events_per_moment(events, _events_by_lead(events, ids), lead, snap)

    pairs = zip(lead, snap, strict=True)
    expected = pd.concat([events[events["lead_id"] == ids[p]].assign(lead_id=s) for p, s in pairs])
    pd.testing.assert_frame_equal(got, expected)
    assert "zz" not in set(got["lead_id"])


def test_moments_without_events_give_an_empty_frame_with_the_columns() -> None:
    events = _events()
    got = _events_per_moment(
        events, _events_by_lead(events, pd.Index(["c"])), np.array([0]), pd.Index(["m0"])
    )
    assert got.empty and list(got.columns) == list(events.columns)


def test_no_events_at_all() -> None:
    events = pd.DataFrame({"lead_id": [], "event_type": [], "occurred_at": []})
    by_lead = _events_by_lead(events, pd.Index(["a", "b"]))
    assert by_lead[1].tolist() == [0, 0, 0]
    assert _events_per_moment(events, by_lead, np.array([0, 1]), pd.Index(["m0", "m1"])).empty
