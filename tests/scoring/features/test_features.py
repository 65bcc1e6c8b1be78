"""Point-in-time features: exact values on a hand-made CRM, the point-in-time property, and one
implementation for batch and real-time input."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.config import Config, load_config
from scoring.data.files import write_table
from scoring.data.load import events_from_records, leads_from_records, load_events, load_leads
from scoring.data.validation import validate_events, validate_leads
from scoring.features import Features, build_features, feature_spec
from tests.conftest import TINY_CONFIG, tiny_tables

AS_OF = pd.Timestamp("2025-01-09 16:00")


@pytest.fixture
def tiny(tiny_config: Config):
    t = tiny_tables()
    raw = t["leads"].merge(t["accounts"], on="account_id", how="left")
    leads, _ = validate_leads(tiny_config, raw)
    events, _ = validate_events(tiny_config, t["activities"])
    return leads, events


def test_columns_follow_the_spec(tiny_config: Config, tiny) -> None:
    leads, events = tiny
    frame = build_features(tiny_config, leads.inputs, events, AS_OF)
    spec = feature_spec(tiny_config)
    assert list(frame.columns) == [f.name for f in spec]
    for info in spec:
        expected = "float64" if info.kind == "numeric" else "str"
        assert str(frame[info.name].dtype) == expected, info.name
    assert {f.group for f in spec if f.name.startswith("tech_stack")} == {"fit"}
    assert {f.group for f in spec if f.name.startswith("events_")} == {"intent"}


def test_fit_values(tiny_config: Config, tiny) -> None:
    leads, events = tiny
    f = build_features(tiny_config, leads.inputs, events, AS_OF)
    l1 = f.loc["L1"]
    assert (l1["title_seniority"], l1["title_seniority_rank"], l1["title_department"]) == (
        "vp",
        4.0,
        "sales",
    )
    assert (l1["vertical"], l1["employees"], l1["employees_band"]) == ("software", 1200.0, "500+")
    assert (l1["tech_stack_salesforce"], l1["tech_stack_hubspot"], l1["tech_stack_crm_count"]) == (
        1.0,
        0.0,
        1.0,
    )
    assert f.loc["L2", "employees_band"] == "<50"
    assert f.loc["L3", ["vertical", "employees_band"]].isna().all()
    assert np.isnan(f.loc["L3", "tech_stack_crm_count"])  # unknown stack is not an empty stack
    assert f.loc["L3", "title_seniority"] == "unknown"
    assert np.isnan(f.loc["L3", "title_seniority_rank"])
    assert f["newsletter"].tolist()[:2] == [1.0, 0.0]


def test_event_values(tiny_config: Config, tiny) -> None:
    leads, events = tiny
    f = build_features(tiny_config, leads.inputs, events, AS_OF)
    l1 = f.loc["L1"]
    # L1 before AS_OF: web visit 7.25 days ago, pricing page 1.29 days ago, demo 1 hour ago;
    # its web visit on 2025-02-20 is in the future and must not count.
    assert [l1["events_1d"], l1["events_7d"], l1["events_30d"]] == [1.0, 2.0, 3.0]
    assert [l1["web_visit_7d"], l1["web_visit_30d"], l1["pricing_page_7d"]] == [0.0, 1.0, 1.0]
    assert l1["demo_request_1d"] == 1.0
    assert l1["days_since_last_event"] == pytest.approx(1 / 24)
    assert l1["days_since_first_event"] == pytest.approx(7.25)
    expected = 2 ** (-7.25 / 7) + 2 ** (-(1 + 7 / 24) / 7) + 5 * 2 ** (-1 / 24 / 7)
    assert l1["engagement_score"] == pytest.approx(expected)
    assert (l1["demo_request_ever"], l1["pricing_page_ever"], l1["hand_raises"]) == (1.0, 1.0, 2.0)
    assert l1["days_since_hand_raise"] == pytest.approx(1 / 24)
    # L2's webinar is not a configured type: it counts as activity, not as any type
    assert f.loc["L2", "events_7d"] == 1.0
    assert f.loc["L2", ["web_visit_7d", "pricing_page_7d", "demo_request_7d"]].sum() == 0.0
    # L3 has no events at all
    assert f.loc["L3", "events_30d"] == 0.0 and np.isnan(f.loc["L3", "days_since_last_event"])


def test_per_lead_as_of(tiny_config: Config, tiny) -> None:
    leads, events = tiny
    as_of = pd.Series(
        pd.to_datetime(
            ["2025-03-01 00:00", "2025-01-01 00:00", "2025-01-01 00:00", "2025-02-11 10:00"]
        ),
        index=leads.inputs.index,
    )
    f = build_features(tiny_config, leads.inputs, events, as_of)
    assert f.loc["L1", "events_30d"] == 1.0  # only the 2025-02-20 visit is within 30 days
    assert f.loc["L2", "events_30d"] == 0.0  # its webinar is after its as_of
    assert f.loc["L4", "pricing_page_1d"] == 1.0


def test_a_lead_taken_many_times_is_each_time_itself(tiny_config: Config, tiny) -> None:
    """`Features.subset` with a lead more than once (the replay's moments): each copy has the
    lead's own events, so projected to its own point in time it equals the lead built alone."""
    leads, events = tiny
    built = Features.of_frame(tiny_config, leads.inputs, events)
    rows = np.array([0, 0, 0, 3, 1, 3])
    stamps = pd.to_datetime(
        [
            "2025-01-02 00:00",
            "2025-01-09 16:00",
            "2025-03-01 00:00",
            "2025-02-11 10:00",
            "2025-01-05 00:00",
            "2025-03-01 00:00",
        ]
    ).to_numpy()
    projected = built.subset(rows).at(stamps)
    for k, (row, as_of) in enumerate(zip(rows, stamps, strict=True)):
        alone = build_features(tiny_config, leads.inputs.iloc[[row]], events, as_of)
        for name, values in projected.items():
            expected = alone[name].iloc[0]
            assert values[k] == expected or (pd.isna(values[k]) and pd.isna(expected)), name
    assert projected["events_30d"][:3].tolist() != [projected["events_30d"][0]] * 3


def test_timezone_aware_as_of_is_utc(tiny_config: Config, tiny) -> None:
    leads, events = tiny
    naive = build_features(tiny_config, leads.inputs, events, AS_OF)
    aware = build_features(
        tiny_config, leads.inputs, events, AS_OF.tz_localize("UTC").tz_convert("Europe/Berlin")
    )
    pd.testing.assert_frame_equal(naive, aware)


# ----------------------------------------------------------------- the point-in-time property

_START = datetime(2025, 1, 1)
_times = st.integers(min_value=0, max_value=200 * 24 * 60).map(
    lambda m: _START + timedelta(minutes=m)
)
_events = st.lists(
    st.tuples(
        st.sampled_from(["L1", "L2", "L3", "L4"]),
        st.sampled_from(["web_visit", "pricing_page", "demo_request", "webinar"]),
        _times,
    ),
    max_size=60,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(past=_events, future=_events, as_of=_times)
def test_nothing_after_as_of_changes_any_feature(tiny_config: Config, tiny, past, future, as_of):
    # given events up to as_of, and any number of events after it
    leads, _ = tiny
    before = [e for e in past if e[2] <= as_of]
    after = [(lead, kind, as_of + (t - _START) + timedelta(seconds=1)) for lead, kind, t in future]

    def frame(rows):
        raw = pd.DataFrame(rows, columns=["lead_id", "event_type", "occurred_at"])
        return validate_events(tiny_config, raw)[0]

    # when features are built with and without the future
    seen = build_features(tiny_config, leads.inputs, frame(before), as_of)
    everything = build_features(tiny_config, leads.inputs, frame(before + after), as_of)
    # then they are identical
    pd.testing.assert_frame_equal(seen, everything)


def test_date_fields_after_as_of_are_unknown(tmp_path: Path) -> None:
    raw = yaml.safe_load(TINY_CONFIG)
    raw["features"]["intent"] = [{"column": "last_seen", "kind": "timestamp"}]
    raw.pop("events")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    inputs = pd.DataFrame(
        {
            "title": ["CEO", "CEO"],
            "vertical": ["x", "x"],
            "employees": [1.0, 1.0],
            "tech_stack": ["", ""],
            "last_seen": pd.to_datetime(["2025-01-01", "2025-03-01"]).astype("datetime64[us]"),
        },
        index=pd.Index(["a", "b"], name="lead_id"),
    )
    f = build_features(cfg, inputs, None, pd.Timestamp("2025-01-11"))
    assert f.loc["a", "last_seen_days_ago"] == 10.0
    assert np.isnan(f.loc["b", "last_seen_days_ago"])


# ----------------------------------------------------------------- one implementation


def test_real_time_record_equals_batch(sqlite_engine: sa.Engine, tiny_config: Config) -> None:
    # given the lead database (batch) and the same lead as a CRM would post it (real time)
    for name, frame in tiny_tables().items():
        write_table(frame, name, sqlite_engine)
    batch_leads, _ = load_leads(tiny_config, sqlite_engine)
    batch_events, _ = load_events(tiny_config, sqlite_engine)
    lead = {
        "lead_id": "L1",
        "title": "VP Sales",
        "vertical": "Software",
        "employees": 1200,
        "tech_stack": "Salesforce;Slack",
        "newsletter": "yes",
        "created_at": "2025-01-01",
    }
    events = [
        {"lead_id": "L1", "event_type": kind, "occurred_at": when}
        for kind, when in [
            ("web_visit", "2025-01-02T10:00:00Z"),
            ("Pricing Page Visit", "2025-01-08T09:00:00"),
            ("demo_request", "2025-01-09 15:00"),
            ("web_visit", "2025-02-20T13:00:00+01:00"),
        ]
    ]
    rt_leads, rt_rejects = leads_from_records(tiny_config, [lead])
    rt_events, ev_rejects = events_from_records(tiny_config, events)
    assert rt_rejects.empty and ev_rejects.empty
    # when both are featurised at the same as_of
    for as_of in (AS_OF, pd.Timestamp("2025-03-01")):
        batch = build_features(tiny_config, batch_leads.inputs, batch_events, as_of).loc[["L1"]]
        real_time = build_features(tiny_config, rt_leads.inputs, rt_events, as_of)
        # then the numbers are identical
        pd.testing.assert_frame_equal(real_time, batch)


def test_unknown_record_field_is_named(tiny_config: Config) -> None:
    with pytest.raises(ValueError, match=r"lead 0: unknown fields \['job_title'\]"):
        leads_from_records(tiny_config, [{"lead_id": "x", "job_title": "CEO"}])


def test_config_without_intent_or_without_fit(tmp_path: Path, tiny) -> None:
    leads, events = tiny
    raw = yaml.safe_load(TINY_CONFIG)
    fit_only = {**raw, "features": {"fit": raw["features"]["fit"]}}
    fit_only.pop("events")
    intent_only = {**raw, "features": {"intent": raw["features"]["intent"]}}
    for name, variant in (("fit", fit_only), ("intent", intent_only)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(variant))
        cfg = load_config(path)
        f = build_features(cfg, leads.inputs, events if cfg.events else None, AS_OF)
        assert {i.group for i in feature_spec(cfg)} == {name}
        assert len(f) == 4 and f.shape[1] == len(feature_spec(cfg))


def test_date_parts_are_features_as_of_the_point_in_time(tmp_path: Path) -> None:
    text = TINY_CONFIG.replace(
        "    - {column: newsletter, kind: boolean}",
        "    - {column: newsletter, kind: boolean}\n"
        "    - {column: created_at, kind: date_part, name: signup,"
        " parts: [month, weekday, hour, days_since]}",
    ).replace("  created_at: created_at\n", "")
    path = tmp_path / "parts.yaml"
    path.write_text(text)
    cfg = load_config(path)
    names = [i.name for i in feature_spec(cfg) if i.field == "created_at"]
    assert names == ["signup_month", "signup_weekday", "signup_hour", "signup_days_since"]
    t = tiny_tables()
    raw = t["leads"].merge(t["accounts"], on="account_id", how="left")
    leads, rejects = validate_leads(cfg, raw)
    assert rejects.empty
    frame = build_features(cfg, leads.inputs, None, pd.Timestamp("2025-02-05"))
    # L1 signed up on Wednesday 2025-01-01 (midnight); L4 on 2025-02-10, after the as_of
    assert frame.loc["L1", names].tolist() == ["jan", "wed", 0.0, 35.0]
    assert frame.loc["L4", "signup_month"] != frame.loc["L4", "signup_month"]  # NaN: not yet
    assert np.isnan(frame.loc["L4", "signup_days_since"])
    later = build_features(cfg, leads.inputs, None, pd.Timestamp("2025-03-01"))
    assert later.loc["L4", names[:3]].tolist() == ["feb", "mon", 8.0]
