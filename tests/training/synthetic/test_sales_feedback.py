"""The world's sales activity log: what the demo config reads as feedback, in the SDRs' office
hours, consistent with the leads' history columns and with the ground truth behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.config import Config, load_config
from training.synthetic import World, generate_world, sdr
from training.synthetic.clock import days_since
from training.synthetic.events import HAND_RAISES
from training.synthetic.workhours import CLOSES, HOLIDAYS, OPENS, TIMEZONE, WorkCalendar

REPO = Path(__file__).resolve().parents[3]
N_LEADS = 5_000
SEED = 11
ATTEMPTS = ["call", "email", "linkedin message"]
SDR_DECISIONS = ["sdr accepted", "sdr rejected"]
AE_DECISIONS = ["opportunity created", "disqualified"]


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(N_LEADS, SEED)


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(REPO / "configs" / "demo.yaml")


@pytest.fixture(scope="module")
def log(world: World) -> pd.DataFrame:
    """The activity log with, per row, the SDR round it belongs to (attempts belong to the
    decision that follows them; AE rows to the acceptance before them)."""
    acts = world.sales_activities
    decision = acts["activity_type"].isin(SDR_DECISIONS).astype(int)
    before = decision.groupby(acts["lead_id"]).cumsum() - decision
    is_ae = acts["activity_type"].isin(AE_DECISIONS)
    return acts.assign(round=np.where(is_ae, before, before + 1))


def _first(acts: pd.DataFrame, types: list[str]) -> pd.Series:
    return acts[acts["activity_type"].isin(types)].groupby("lead_id")["occurred_at"].min()


# --- the table the config reads -------------------------------------------------------------


def test_activity_table_has_the_configured_columns_types_and_reasons(
    world: World, config: Config
) -> None:
    acts, crm = world.sales_activities, config.feedback.crm
    columns = [crm.id, crm.lead_id, crm.type, crm.timestamp, crm.reason, crm.rating, crm.channel]
    assert list(acts.columns) == columns
    assert config.feedback.crm.table == "sales_activities"
    # every row is feedback of one kind, and every kind occurs
    kind_of = {raw: kind for kind, raws in crm.types.items() for raw in raws}
    kinds = acts["activity_type"].map(kind_of)
    assert kinds.notna().all()
    assert set(kinds) == {
        "contact_attempt",
        "sdr_accepted",
        "sdr_rejected",
        "ae_accepted",
        "ae_disqualified",
    }
    assert acts["activity_id"].is_unique and acts["activity_id"].dtype == np.int64
    assert acts["lead_id"].isin(world.leads["lead_id"]).all()
    ordered = acts.sort_values(["lead_id", "occurred_at"], kind="stable")
    assert ordered.index.equals(acts.index)
    assert acts["occurred_at"].max() <= world.exported_at
    # reasons: on rejections and disqualifications only, each one a reason of the config
    has_reason = kinds.isin(["sdr_rejected", "ae_disqualified"])
    assert acts["reason"].notna().equals(has_reason)
    names = [
        config.feedback.reason(kind, raw)
        for kind, raw in zip(kinds[has_reason], acts.loc[has_reason, "reason"], strict=True)
    ]
    assert None not in names
    assert {"not_ready", "bad_fit", "no_budget", "not_decision_maker", "unresponsive"} <= set(
        n for n, k in zip(names, kinds[has_reason], strict=True) if k == "sdr_rejected"
    )
    assert {"no_need", "no_authority", "bad_timing", "unresponsive"} <= set(
        n for n, k in zip(names, kinds[has_reason], strict=True) if k == "ae_disqualified"
    )
    # ratings on SDR decisions only, whole numbers on the config's scale
    rated = kinds.isin(["sdr_accepted", "sdr_rejected"])
    assert acts["rating"].notna().equals(rated)
    ratings = acts.loc[rated, "rating"]
    assert (ratings == np.round(ratings)).all()
    assert set(ratings.astype(int)) == set(range(1, config.feedback.rating_max + 1))
    # channels on contact attempts only, matching the type
    attempt = kinds.eq("contact_attempt")
    assert acts["channel"].notna().equals(attempt)
    channel = {"call": "call", "email": "email", "linkedin message": "linkedin"}
    assert acts.loc[attempt, "activity_type"].map(channel).equals(acts.loc[attempt, "channel"])


def test_the_world_works_on_the_calendar_of_the_sla(world: World, config: Config) -> None:
    calendar = config.sla.calendar
    assert calendar.timezone == TIMEZONE
    assert (calendar.opens, calendar.closes) == (OPENS, CLOSES)
    assert tuple(calendar.holidays) == HOLIDAYS
    assert calendar.weekday_numbers == frozenset(range(5))
    # every call, email, decision and qualification is inside New York office hours
    local = world.sales_activities["occurred_at"].dt.tz_localize("UTC").dt.tz_convert(TIMEZONE)
    assert local.dt.hour.between(9, 16).all()
    assert (local.dt.day_of_week < 5).all()
    assert not local.dt.date.isin(HOLIDAYS).any()
    # and at every hour of the working day, not just at the opening
    assert local.dt.hour.nunique() == 8


def test_work_calendar_counts_business_hours_across_nights_weekends_dst_and_holidays() -> None:
    origin = pd.Timestamp("2024-01-01").as_unit("us")
    calendar = WorkCalendar(origin, 400)

    def at(text: str) -> float:
        local = pd.Timestamp(text, tz=TIMEZONE).tz_convert("UTC").tz_localize(None)
        return float(days_since(local, origin)[0])

    def hours(a: str, b: str) -> float:
        return float(calendar.hours(np.array([at(b)]))[0] - calendar.hours(np.array([at(a)]))[0])

    assert hours("2024-01-02 09:00", "2024-01-02 17:00") == pytest.approx(8.0)
    assert hours("2024-01-05 16:00", "2024-01-08 10:00") == pytest.approx(2.0)  # weekend
    assert hours("2024-07-03 16:00", "2024-07-05 10:00") == pytest.approx(2.0)  # 4th of July
    assert hours("2024-03-08 16:00", "2024-03-11 10:00") == pytest.approx(2.0)  # DST starts
    assert hours("2024-01-02 20:00", "2024-01-03 08:00") == 0.0  # the night
    # four business hours after Friday 15:00 is Monday 11:00; a Saturday moment is Monday 9:00
    later = calendar.after(np.array([at("2024-01-05 15:00"), at("2024-01-06 12:00")]), 4.0)
    assert np.allclose(later, [at("2024-01-08 11:00"), at("2024-01-08 13:00")], atol=1e-9)
    opened = calendar.after(np.array([at("2024-01-06 12:00"), at("2024-01-08 10:30")]))
    assert np.allclose(opened, [at("2024-01-08 09:00"), at("2024-01-08 10:30")], atol=1e-9)
    assert np.isnan(calendar.hours(np.array([np.nan]))).all()


# --- the SDRs' pace --------------------------------------------------------------------------


def test_first_touches_are_mostly_hours_late_and_sometimes_within_the_hour(world: World) -> None:
    # given the first round of every contacted lead, in business hours from its MQL
    leads = world.leads.set_index("lead_id")
    first = _first(world.sales_activities, ATTEMPTS)
    calendar = WorkCalendar(pd.Timestamp("2024-01-01").as_unit("us"), 800)
    origin = pd.Timestamp("2024-01-01")
    waited = calendar.hours(days_since(first, origin)) - calendar.hours(
        days_since(leads.loc[first.index, "mql_at"], origin)
    )
    # then a minority is touched within the hour, most only after several hours, and the
    # 4-business-hour SLA is both met and breached
    assert 0.08 <= (waited <= 1.0).mean() <= 0.25
    assert 0.35 <= (waited <= 4.0).mean() <= 0.6
    assert np.median(waited) > 3.0
    # the first touch is never before the handoff
    assert (first >= leads.loc[first.index, "mql_at"]).all()


def test_attempts_precede_each_decision_one_to_six_over_days(
    world: World, log: pd.DataFrame
) -> None:
    attempts = log[log["activity_type"].isin(ATTEMPTS)]
    decisions = log[log["activity_type"].isin(SDR_DECISIONS)]
    per_round = attempts.groupby(["lead_id", "round"]).size()
    decided = decisions.set_index(["lead_id", "round"])
    # every decision follows at least one attempt of its round, at most six
    counts = per_round.reindex(decided.index)
    assert counts.notna().all() and counts.between(1, 6).all()
    assert (counts >= 3).mean() > 0.1 and (counts == 1).mean() > 0.3
    last = attempts.groupby(["lead_id", "round"])["occurred_at"].max().reindex(decided.index)
    assert (decided["occurred_at"] > last).all()
    # repeated attempts are spread over days, not minutes
    span = attempts.groupby(["lead_id", "round"])["occurred_at"].agg(["min", "max"])
    spread = (span["max"] - span["min"])[per_round >= 3] / pd.Timedelta(days=1)
    assert spread.median() > 1.5
    # leads that never answered got at least three tries before they were given up on
    cause = decided["activity_id"].map(world.feedback_truth.set_index("activity_id")["true_reason"])
    unresponsive = cause.eq("unresponsive")
    assert unresponsive.sum() > 50 and (counts[unresponsive] >= 3).all()


def test_lifecycle_order_of_the_log(log: pd.DataFrame) -> None:
    # the first thing sales does with a lead is an attempt
    assert log.groupby("lead_id")["activity_type"].first().isin(ATTEMPTS).all()
    # a lead is accepted at most once, and nothing happens on the SDR side afterwards
    accepted = log[log["activity_type"].eq("sdr accepted")].set_index("lead_id")["occurred_at"]
    assert accepted.index.is_unique
    sdr_side = log[log["activity_type"].isin(ATTEMPTS + SDR_DECISIONS)]
    after = sdr_side["occurred_at"] > sdr_side["lead_id"].map(accepted)
    assert not after.any()
    # an AE decides once, after the acceptance
    ae = log[log["activity_type"].isin(AE_DECISIONS)].set_index("lead_id")["occurred_at"]
    assert ae.index.is_unique and ae.index.isin(accepted.index).all()
    assert (ae > accepted.reindex(ae.index)).all()


def test_ae_decisions_take_days_and_some_breach_the_14_day_sla(log: pd.DataFrame) -> None:
    accepted = log[log["activity_type"].eq("sdr accepted")].set_index("lead_id")["occurred_at"]
    ae = log[log["activity_type"].isin(AE_DECISIONS)].set_index("lead_id")
    days = (ae["occurred_at"] - accepted.reindex(ae.index)) / pd.Timedelta(days=1)
    assert 2.5 <= days.median() <= 7.0
    assert 0.02 <= (days > 14).mean() <= 0.15
    assert 0.3 <= ae["activity_type"].eq("opportunity created").mean() <= 0.7


# --- consistency with the leads table -----------------------------------------------------------


def test_leads_history_columns_agree_with_the_log(world: World, log: pd.DataFrame) -> None:
    leads = world.leads.set_index("lead_id")
    truth = world.truth.set_index("lead_id")

    def when(kind: str) -> pd.Series:
        return (
            log[log["activity_type"].eq(kind)]
            .set_index("lead_id")["occurred_at"]
            .reindex(leads.index)
        )

    pd.testing.assert_series_equal(leads["sal_at"], when("sdr accepted"), check_names=False)
    pd.testing.assert_series_equal(leads["sql_at"], when("opportunity created"), check_names=False)
    disqualified = when("disqualified")
    gone = disqualified.notna()
    assert leads.loc[gone, "closed_at"].equals(disqualified[gone])
    assert leads.loc[gone, "outcome"].eq("lost").all()
    # the truth's first contact (the one the response model values) is the first attempt
    first = _first(log, ATTEMPTS).reindex(leads.index)
    pd.testing.assert_series_equal(truth["first_contact_at"], first, check_names=False)
    # sdr_decision and sdr_reject_reason are the latest SDR decision
    latest = log[log["activity_type"].isin(SDR_DECISIONS)].groupby("lead_id").tail(1)
    latest = latest.set_index("lead_id").reindex(leads.index)
    decision = latest["activity_type"].map({"sdr accepted": "accepted", "sdr rejected": "rejected"})
    assert leads["sdr_decision"].fillna("-").equals(decision.fillna("-"))
    assert leads["sdr_reject_reason"].fillna("-").equals(latest["reason"].fillna("-"))
    # mql_at is the first handoff: before any sales activity; leads never handed off have none
    assert leads.loc[first.notna(), "mql_at"].notna().all()
    assert (first.dropna() >= leads.loc[first.notna(), "mql_at"]).all()
    assert not log["lead_id"].isin(leads.index[leads["mql_at"].isna()]).any()


# --- recycling ------------------------------------------------------------------------------------


def test_rejected_leads_return_when_they_raise_a_hand_and_some_are_won(
    world: World, log: pd.DataFrame
) -> None:
    leads = world.leads.set_index("lead_id")
    rejections = log[log["activity_type"].eq("sdr rejected")]
    # leads with a round after a rejection: back in the SDR queue after raising a hand
    returns = log[log["round"].gt(1) & log["activity_type"].isin(ATTEMPTS)]
    returns = returns.groupby(["lead_id", "round"])["occurred_at"].min().reset_index()
    assert returns["lead_id"].nunique() >= 0.08 * rejections["lead_id"].nunique()
    rejected_at = rejections.set_index(["lead_id", "round"])["occurred_at"]
    previous = rejected_at.reindex(
        pd.MultiIndex.from_arrays([returns["lead_id"], returns["round"] - 1])
    )
    raises = world.activities[world.activities["event_type"].isin(HAND_RAISES)]
    pairs = returns.assign(rejected=previous.to_numpy()).merge(raises, on="lead_id")
    # the hand-raise that brought it back: after the rejection, within the stale period, before
    # the next call
    window = pairs["occurred_at_y"].gt(pairs["rejected"]) & pairs["occurred_at_y"].le(
        pairs["rejected"] + pd.Timedelta(days=sdr.STALE_DAYS)
    )
    window &= pairs["occurred_at_y"].le(pairs["occurred_at_x"])
    came_back = pairs[window].groupby(["lead_id", "round"]).size()
    assert len(came_back) == len(returns)
    # some recycled leads are then accepted, and some won
    recycled = returns["lead_id"].unique()
    accepted = log[log["activity_type"].eq("sdr accepted") & log["round"].gt(1)]
    assert accepted["lead_id"].nunique() >= 0.25 * len(recycled)
    assert leads.loc[recycled, "outcome"].eq("won").sum() >= 5
    # a lead rejected last that did not come back is closed lost after the stale period
    sdr_side = log[log["activity_type"].isin(ATTEMPTS + SDR_DECISIONS)]
    last = sdr_side.groupby("lead_id").tail(1).set_index("lead_id")
    stale = last[last["activity_type"].eq("sdr rejected")]
    due = stale["occurred_at"] + pd.Timedelta(days=sdr.STALE_DAYS)
    closed = due <= world.exported_at
    assert leads.loc[stale.index[closed], "closed_at"].equals(due[closed].rename("closed_at"))
    assert leads.loc[stale.index[closed], "outcome"].eq("lost").all()
    # still open: back in marketing, or an MQL again when it raised its hand since (the SDRs
    # have not called by the export), unless that was its last round
    open_ = stale[~closed]
    raised = raises.merge(open_["occurred_at"].rename("rejected").reset_index(), on="lead_id")
    again = raised.loc[raised["occurred_at"] > raised["rejected"], "lead_id"].unique()
    again = open_.index.isin(again) & open_["round"].lt(sdr.MAX_ROUNDS).to_numpy()
    stage = leads.loc[open_.index, "stage"]
    assert stage.eq("nurture").sum() > 0
    assert stage.eq(np.where(again, "mql", "nurture")).all()


# --- ground truth ---------------------------------------------------------------------------------


def test_feedback_truth_covers_every_decision(world: World, log: pd.DataFrame) -> None:
    truth = world.feedback_truth
    decisions = log[log["activity_type"].isin(SDR_DECISIONS + AE_DECISIONS)]
    assert truth["activity_id"].tolist() == decisions["activity_id"].tolist()
    assert truth["lead_id"].tolist() == decisions["lead_id"].tolist()
    assert truth["occurred_at"].tolist() == decisions["occurred_at"].tolist()
    kind = {
        "sdr accepted": "sdr_accepted",
        "sdr rejected": "sdr_rejected",
        "opportunity created": "ae_accepted",
        "disqualified": "ae_disqualified",
    }
    assert truth["kind"].tolist() == decisions["activity_type"].map(kind).tolist()
    assert truth["round"].tolist() == decisions["round"].tolist()
    # flags recomputed from the lead's window
    lead = world.truth.set_index("lead_id").loc[truth["lead_id"]].reset_index()
    t = truth["occurred_at"]
    ready = lead["in_market"] & t.ge(lead["ready_at"]) & t.le(lead["window_end"])
    assert truth["ready"].equals(ready.rename("ready"))
    inside = lead["in_market"] & t.ge(lead["window_start"]) & t.le(lead["window_end"])
    assert truth["in_window"].equals(inside.rename("in_window"))


def test_reasons_reflect_the_true_cause(world: World) -> None:
    truth = world.feedback_truth.merge(
        world.sales_activities[["activity_id", "reason", "rating"]], on="activity_id"
    )
    lead = world.truth.set_index("lead_id").loc[truth["lead_id"]].reset_index(drop=True)
    accounts = world.accounts.set_index("account_id")
    employees = (
        world.leads.set_index("lead_id")
        .loc[truth["lead_id"], "account_id"]
        .map(accounts["employees"])
        .to_numpy()
    )
    rejected = truth["kind"].eq("sdr_rejected")
    # most logged reasons are the true cause; the rest are mislabelled, and flagged so
    agree = truth.loc[rejected, "reason"].eq(truth.loc[rejected, "true_reason"])
    assert 0.85 <= agree.mean() <= 0.97
    assert truth.loc[rejected, "mislabelled"].equals(~agree)
    # "bad timing" rejections were truly not sales-ready at that moment, nearly all of them
    bad_timing = rejected & truth["reason"].eq("bad timing")
    assert (~truth.loc[bad_timing, "ready"]).mean() >= 0.85
    assert (~truth.loc[rejected & truth["true_reason"].eq("bad timing"), "ready"]).all()
    # the true causes are facts about the lead
    cause = truth["true_reason"]
    assert lead.loc[cause.eq("student or job seeker"), "seniority"].eq("entry").all()
    assert (
        lead.loc[cause.eq("not a decision maker"), "seniority"]
        .isin(["individual", "unknown"])
        .all()
    )
    assert (employees[cause.eq("no budget / company too small").to_numpy()] < 20).all()
    assert (~truth.loc[cause.eq("no need"), "in_market"]).all()
    # leads that will be won are turned down only as too early, and only once
    future_buyers = rejected & truth["will_win"]
    assert future_buyers.sum() >= 3
    assert truth.loc[future_buyers, "true_reason"].eq("bad timing").all()
    assert (~truth.loc[future_buyers, "ready"]).all()
    assert truth.loc[future_buyers, "round"].eq(1).all()
    # the SDR's rating tracks the lead's true fit
    rated = truth["rating"].notna()
    corr = pd.Series(truth.loc[rated, "rating"].to_numpy()).corr(
        pd.Series(lead.loc[rated.to_numpy(), "fit_probability"].to_numpy()), method="spearman"
    )
    assert corr > 0.5
    accepted = truth["kind"].eq("sdr_accepted")
    assert truth.loc[accepted, "rating"].mean() > truth.loc[rejected, "rating"].mean() + 0.5


def test_sales_process_leaves_the_other_stages_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    # given the same world with a much faster SDR team
    before = generate_world(2_000, 5)
    monkeypatch.setattr(sdr, "FIRST_TOUCH_MEDIAN_HOURS", 0.5)
    faster = generate_world(2_000, 5)
    # then the sales log changes, and every other stage's draws stay as they were
    assert not before.sales_activities.equals(faster.sales_activities)
    for name in ("accounts", "activities"):
        pd.testing.assert_frame_equal(getattr(before, name), getattr(faster, name))
    truth = before.truth.drop(columns="first_contact_at")
    pd.testing.assert_frame_equal(truth, faster.truth.drop(columns="first_contact_at"))
    columns = ["lead_id", "account_id", "title", "lead_source", "created_at", "mql_at"]
    pd.testing.assert_frame_equal(before.leads[columns], faster.leads[columns])
