"""The synthetic CRM world: deterministic, realistic, and consistent with its ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from training.synthetic import ResponseModel, World, generate_world, snapshot_export, write_world
from training.synthetic.events import EVENT_TYPES, HAND_RAISES
from training.synthetic.geography import REGIONS
from training.synthetic.titles import DEPARTMENTS, SENIORITIES, TITLES, title_frame

N_LEADS = 5_000
SEED = 11
MODEL = ResponseModel()


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(N_LEADS, SEED)


def _frames(w: World) -> dict[str, pd.DataFrame]:
    return {
        "accounts": w.accounts,
        "leads": w.leads,
        "activities": w.activities,
        "truth": w.truth,
        "sales_activities": w.sales_activities,
        "feedback_truth": w.feedback_truth,
    }


def _in_market(w: World) -> pd.DataFrame:
    return w.truth[w.truth["in_market"]].reset_index(drop=True)


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_tables() -> None:
    # given two worlds from the same seed
    first, second = generate_world(2_000, 3), generate_world(2_000, 3)
    # then every table is identical
    for name, frame in _frames(first).items():
        pd.testing.assert_frame_equal(frame, _frames(second)[name], obj=name)
    assert first.exported_at == second.exported_at


def test_different_seed_gives_a_different_world() -> None:
    first, other = generate_world(2_000, 3), generate_world(2_000, 4)
    assert not first.accounts["employees"].equals(other.accounts["employees"])
    assert not first.leads["created_at"].equals(other.leads["created_at"])
    assert len(first.activities) != len(other.activities) or not first.activities.equals(
        other.activities
    )


# --- ground truth ------------------------------------------------------------------------------


def test_contact_at_ready_beats_too_early_too_late_and_a_day_late(world: World) -> None:
    # given the in-market leads
    truth = _in_market(world)
    day = pd.Timedelta(days=1)
    # when sales would first contact them at different moments
    at_ready = MODEL.timing_multiplier(truth, truth["ready_at"])
    too_early = MODEL.timing_multiplier(truth, truth["window_start"] - 30 * day)
    too_late = MODEL.timing_multiplier(truth, truth["window_end"] + 30 * day)
    a_day_late = MODEL.timing_multiplier(truth, truth["ready_at"] + day)
    # then the ready moment is the best of them, for every lead
    assert np.all(at_ready == 1.0)
    assert np.all(at_ready > too_early)
    assert np.all(at_ready > too_late)
    assert np.all(at_ready > a_day_late)
    assert np.all(a_day_late > too_late)


def test_multiplier_is_bounded_and_never_rises_after_ready(world: World) -> None:
    truth = _in_market(world)
    delays = pd.to_timedelta([0, 1, 5, 6, 10, 30, 45, 60, 120, 600, 1_440, 10_080, 100_000], "min")
    curves = np.array([MODEL.timing_multiplier(truth, truth["ready_at"] + d) for d in delays])
    assert np.all((curves >= 0.0) & (curves <= 1.0))
    assert np.all(np.diff(curves, axis=0) <= 1e-12)
    # the floor keeps a day-late contact worth about a third of a perfect one
    assert np.allclose(curves[delays == pd.Timedelta(days=1)], MODEL.speed_floor, atol=0.01)


def test_speed_to_lead_anchors_of_the_studies() -> None:
    r = MODEL.responsiveness(np.array([5.0, 30.0, 60.0, 120.0, 1_440.0]))
    assert r[0] / r[1] == pytest.approx(21.0)  # Oldroyd & Elkington: 5 vs 30 minutes
    assert r[2] / r[3] == pytest.approx(7.0)  # HBR: within an hour vs an hour later
    assert r[2] / r[4] == pytest.approx(60.0)  # HBR: within an hour vs 24 hours


def test_out_of_market_and_never_contacted(world: World) -> None:
    truth = world.truth
    out = truth[~truth["in_market"]]
    assert np.all(MODEL.timing_multiplier(out, pd.NaT) == 0.0)
    anytime = MODEL.timing_multiplier(out, pd.Timestamp("2025-01-01"))
    assert np.allclose(anytime, MODEL.early_multiplier)
    assert (
        truth.loc[~truth["in_market"], ["window_start", "ready_at", "window_end"]]
        .isna()
        .all(axis=None)
    )


def test_response_model_takes_a_scalar_or_one_time_per_lead(world: World) -> None:
    truth = world.truth
    moment = pd.Timestamp("2025-03-01 12:00")
    per_lead = pd.Series(moment, index=truth.index)
    assert np.array_equal(
        MODEL.win_probability(truth, moment), MODEL.win_probability(truth, per_lead)
    )
    revenue = MODEL.expected_revenue(truth, per_lead)
    assert np.allclose(revenue, MODEL.win_probability(truth, moment) * truth["deal_size"])
    with pytest.raises(ValueError, match="contact_at"):
        MODEL.win_probability(truth, per_lead.iloc[:10])


def test_fit_probability_is_in_the_intended_range(world: World) -> None:
    fit = world.truth["fit_probability"]
    assert 0.15 <= fit.mean() <= 0.25
    assert 0.45 <= fit.quantile(0.99) <= 0.7
    buyers = world.truth["seniority"].isin(["vp", "director"]) & world.truth["department"].isin(
        ["sales", "revops"]
    )
    students = world.truth["seniority"].eq("entry")
    assert fit[buyers].mean() > 2 * fit[students].mean()


# --- history agrees with the oracle ------------------------------------------------------------


def test_history_draws_wins_from_the_oracle(world: World) -> None:
    # given contacted leads whose deals had time to close before the export
    leads, truth = world.leads, world.truth
    settled = truth["first_contact_at"] <= world.exported_at - pd.Timedelta(days=300)
    p = MODEL.win_probability(truth, truth["first_contact_at"])[settled.to_numpy()]
    won = leads.loc[settled, "outcome"].eq("won").to_numpy()
    # then every outcome is closed, and won exactly when the lead's luck beat the oracle
    assert leads.loc[settled, "outcome"].isin(["won", "lost"]).all()
    assert np.array_equal(won, truth.loc[settled, "win_draw"].to_numpy() < p)
    # and the won share matches the mean oracle probability
    tolerance = 4 * np.sqrt(np.sum(p * (1 - p))) / len(p)
    assert abs(won.mean() - p.mean()) < tolerance


def test_never_contacted_leads_are_never_won(world: World) -> None:
    never = world.truth["first_contact_at"].isna()
    assert not world.leads.loc[never, "outcome"].eq("won").any()
    assert np.all(MODEL.win_probability(world.truth[never], pd.NaT) == 0.0)


# --- realism -----------------------------------------------------------------------------------


def test_funnel_rates_are_those_of_a_typical_b2b_team(world: World) -> None:
    leads = world.leads
    won = leads["outcome"].eq("won")
    sqls = leads["sql_at"].notna()
    assert 0.02 <= won.mean() <= 0.05
    assert 0.20 <= won.sum() / sqls.sum() <= 0.35
    assert 0.30 <= leads["mql_at"].notna().mean() <= 0.50
    span = leads["created_at"].max() - leads["created_at"].min()
    assert span >= pd.Timedelta(days=18 * 30)
    first_half = leads["created_at"] < leads["created_at"].min() + span / 2
    assert first_half.mean() < 0.5  # lead flow grows


def test_events_per_lead_and_time_bounds(world: World) -> None:
    acts = world.activities
    assert 15 <= len(acts) / len(world.leads) <= 25
    created = acts["lead_id"].map(world.leads.set_index("lead_id")["created_at"])
    assert (acts["occurred_at"] >= created).all()
    assert (acts["occurred_at"] <= world.exported_at).all()
    assert set(acts["event_type"]) == set(EVENT_TYPES)
    ordered = acts.sort_values(["lead_id", "occurred_at"], kind="stable")
    assert ordered.index.equals(acts.index)
    assert acts["event_id"].is_unique


def test_pricing_visits_concentrate_in_the_buying_window(world: World) -> None:
    # given the pricing-page visits of in-market leads
    truth = world.truth.set_index("lead_id")
    leads = world.leads.set_index("lead_id")
    pricing = world.activities[world.activities["event_type"].eq("pricing_page")]
    pricing = pricing[pricing["lead_id"].map(truth["in_market"])]
    start = pricing["lead_id"].map(truth["window_start"])
    end = pricing["lead_id"].map(truth["window_end"])
    inside = pricing["occurred_at"].between(start, end)
    # then most fall inside the window, which is a small part of each lead's observed life
    assert inside.sum() > 2 * (~inside).sum()
    market = truth[truth["in_market"]]
    lo = np.maximum(market["window_start"], leads.loc[market.index, "created_at"])
    hi = np.minimum(market["window_end"], world.exported_at)
    window_days = ((hi - lo).clip(lower=pd.Timedelta(0)) / pd.Timedelta(days=1)).sum()
    life_days = ((world.exported_at - leads.loc[market.index, "created_at"]).dt.days).sum()
    rate_inside = inside.sum() / window_days
    rate_outside = (~inside).sum() / (life_days - window_days)
    assert rate_inside > 10 * rate_outside


def test_hand_raises_come_after_ready_and_mostly_exactly_at_it(world: World) -> None:
    truth = world.truth.set_index("lead_id")
    raises = world.activities[world.activities["event_type"].isin(HAND_RAISES)]
    raises = raises[raises["lead_id"].map(truth["in_market"])]
    assert (raises["occurred_at"] >= raises["lead_id"].map(truth["ready_at"])).all()
    ready = truth[truth["in_market"] & (truth["ready_at"] <= world.exported_at)]["ready_at"]
    first = raises.groupby("lead_id")["occurred_at"].min().reindex(ready.index)
    assert 0.55 <= (first == ready).mean() <= 0.75


def test_titles_are_varied_and_labelled_by_the_vocabulary(world: World) -> None:
    titles = world.leads["title"]
    assert titles.nunique() >= 60
    vocab = title_frame()
    assert len(TITLES) >= 80 and vocab["title"].is_unique
    assert set(vocab["seniority"]) <= set(SENIORITIES)
    assert set(vocab["department"]) <= set(DEPARTMENTS)
    # every surface form appears, and the truth carries its labels
    assert set(titles) == set(vocab["title"])
    labels = world.truth[["seniority", "department"]].assign(title=titles)
    merged = labels.merge(vocab, on="title", suffixes=("", "_vocab"), validate="m:1")
    assert merged["seniority"].equals(merged["seniority_vocab"])
    assert merged["department"].equals(merged["department_vocab"])


def test_companies_are_right_skewed_and_revenue_tracks_size(world: World) -> None:
    acc = world.accounts
    employees = acc["employees"]
    assert employees.between(2, 200_000).all()
    assert employees.mean() > 2 * employees.median()
    assert employees.skew() > 3
    corr = np.corrcoef(np.log(employees), np.log(acc["annual_revenue"]))[0, 1]
    assert corr > 0.8
    assert acc["account_id"].is_unique
    assert acc["tech_stack"].eq("").any()
    assert acc["tech_stack"].str.contains("Salesforce").any()
    for region, (_, _, countries) in REGIONS.items():
        assert acc.loc[acc["region"].eq(region), "country"].isin(list(countries)).all()


def test_outcomes_and_stages_are_consistent(world: World) -> None:
    leads = world.leads
    won, lost, open_ = (leads["outcome"].eq(o) for o in ("won", "lost", "open"))
    assert (won | lost | open_).all()
    assert (leads.loc[won, "revenue"] > 0).all()
    assert leads.loc[won, "revenue"].equals(leads.loc[won, "opportunity_amount"])
    assert leads.loc[~won, "revenue"].isna().all()
    assert leads.loc[open_, "closed_at"].isna().all()
    assert leads.loc[won | lost, "closed_at"].notna().all()
    assert (leads.loc[won | lost, "stage"] == leads.loc[won | lost, "outcome"]).all()
    assert leads.loc[open_, "stage"].isin(["lead", "nurture", "mql", "sal", "sql"]).all()
    assert leads["opportunity_amount"].notna().equals(leads["sql_at"].notna())
    assert (leads["sal_at"].dropna() >= leads.loc[leads["sal_at"].notna(), "mql_at"]).all()
    assert (leads["sql_at"].dropna() > leads.loc[leads["sql_at"].notna(), "sal_at"]).all()


def test_sdr_decisions_and_reject_reasons(world: World) -> None:
    leads = world.leads
    accepted = leads["sdr_decision"].eq("accepted")
    rejected = leads["sdr_decision"].eq("rejected")
    # sal_at is the acceptance: only accepted leads have it (a lead is accepted at most once)
    assert leads["sal_at"].notna().equals(accepted)
    assert (leads.loc[accepted, "sal_at"] > world.truth.loc[accepted, "first_contact_at"]).all()
    assert leads["sdr_reject_reason"].notna().equals(rejected)
    assert set(leads.loc[rejected, "sdr_reject_reason"]) == {
        "student or job seeker",
        "not a decision maker",
        "no budget / company too small",
        "bad timing",
        "competitor or partner",
        "wrong contact",
        "unresponsive",
    }
    # a lead rejected last is back in marketing (nurture), with the SDRs again (mql) or closed
    assert set(leads.loc[rejected, "stage"]) == {"nurture", "mql", "lost"}


# --- storage and exports -----------------------------------------------------------------------


def _assert_round_trip(w: World, engine: sa.Engine) -> None:
    write_world(w, engine)
    write_world(w, engine)  # replaces, does not append
    tables = {"accounts": w.accounts, "leads": w.leads, "activities": w.activities}
    tables |= {"sales_activities": w.sales_activities, "synthetic_truth": w.truth}
    tables["synthetic_feedback_truth"] = w.feedback_truth
    for name, frame in tables.items():
        back = pd.read_sql_table(name, engine)
        assert len(back) == len(frame)
        pd.testing.assert_frame_equal(back, frame, check_dtype=False, obj=name)
        for column in frame.columns[frame.dtypes.map(pd.api.types.is_datetime64_any_dtype)]:
            assert pd.api.types.is_datetime64_any_dtype(back[column]), (name, column)


def test_write_world_round_trip_sqlite(sqlite_engine: sa.Engine) -> None:
    _assert_round_trip(generate_world(1_000, 2), sqlite_engine)


@pytest.mark.postgres
def test_write_world_round_trip_postgres(postgres_engine: sa.Engine) -> None:
    _assert_round_trip(generate_world(1_000, 2), postgres_engine)


def test_snapshot_export_aggregates_engagement(world: World) -> None:
    snap = snapshot_export(world)
    assert len(snap) == len(world.leads) and snap["Lead ID"].is_unique
    assert {"Job Title", "Total Visits", "Time on Site (min)", "Last Activity Date"} <= set(snap)
    counts = pd.crosstab(world.activities["lead_id"], world.activities["event_type"])
    counts = counts.reindex(snap["Lead ID"], fill_value=0)
    visits = counts["web_visit"] + counts["pricing_page"]
    assert np.array_equal(snap["Total Visits"], visits)
    assert np.array_equal(snap["Demo Requested"].eq("Yes"), counts["demo_request"] > 0)
    assert (snap.loc[snap["Total Visits"].eq(0), "Time on Site (min)"] == 0).all()
    status = snap["Lead Status"].map({"Open": "open", "Closed Won": "won", "Closed Lost": "lost"})
    assert status.equals(world.leads["outcome"])
    assert snap["Deal Amount"].notna().equals(snap["Lead Status"].eq("Closed Won"))
    assert snap["Last Activity"].notna().equals(snap["Last Activity Date"].notna())
    assert snapshot_export(world).equals(snap)
