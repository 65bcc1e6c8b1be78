"""Batch rescoring against a small synthetic CRM, on SQLite and the real PostgreSQL server:
upsert and idempotence, worker processes, incremental change detection, event hashing and time
decay. Its edges (the error table, mismatched models, reasons, quoting, deleted leads, older
tables): test_rescore_edges.py; the run itself (lock, kill and resume, progress):
test_rescore_runs.py."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from scoring.batch.read import chunks, event_stats, read_events, sources, stats_of_events
from scoring.config import Config
from scoring.data.columnar import event_reader
from scoring.data.load import load_events, load_leads
from scoring.data.validation import check_events
from scoring.features import build_features
from scoring.model.scorer import LeadScorer
from tests.scoring.batch.conftest import (
    AS_OF,
    N_LEADS,
    _adds_up,
    _cfg,
    _record,
    _run,
    _table,
)
from training.synthetic import World, write_world


def test_full_run_scores_every_lead_like_real_time_and_rerun_changes_nothing(
    db: sa.Engine, demo_config: Config, scorer_dir: Path
) -> None:
    cfg = _cfg(demo_config, db)
    first = _run(cfg, db, scorer_dir)
    c = first.counts
    assert first.run.mode == "full" and first.leads == N_LEADS
    assert (c["evaluated"], c["written"], c["new"], c["errors"]) == (N_LEADS, N_LEADS, N_LEADS, 0)
    scores = _table(db, "lead_scores").set_index("lead_id").sort_index()
    assert len(scores) == N_LEADS and set(scores["model_version"]) == {"1"}
    assert set(scores["stage"]) == {"nurture", "mql", "sql"}
    assert scores["grade"].str.fullmatch(r"[A-D][1-4]").all()
    # the numbers are those of the one feature implementation at the same point in time
    scorer = LeadScorer.load(scorer_dir)
    leads, _ = load_leads(cfg, db)
    events, _ = load_events(cfg, db)
    direct = scorer.score(build_features(cfg, leads.inputs, events, AS_OF)).sort_index()
    assert (scores["stage"] == direct["stage"]).all()
    assert (scores["grade"] == direct["grade"]).all()
    pd.testing.assert_series_equal(
        scores["win_probability"], direct["win_probability"].round(6), check_names=False
    )
    # every lead entered the history once, at its first stage
    history = _table(db, "lead_stage_history")
    assert len(history) == N_LEADS and history["lead_id"].is_unique
    assert (history["direction"] == "new").all() and history["from_stage"].isna().all()
    # rerunning at the same point in time writes nothing
    again = _run(cfg, db, scorer_dir)
    assert again.run.mode == "incremental"
    assert (again.counts["evaluated"], again.counts["written"]) == (0, 0)
    assert again.counts["skipped"] == again.counts["leads"] == N_LEADS
    pd.testing.assert_frame_equal(
        _table(db, "lead_scores").set_index("lead_id").sort_index(), scores
    )
    assert len(_table(db, "lead_stage_history")) == N_LEADS
    # so does a --full rerun: every lead evaluated, none rewritten
    full = _run(cfg, db, scorer_dir, full=True)
    assert (full.counts["evaluated"], full.counts["written"]) == (N_LEADS, 0)
    assert full.counts["unchanged"] == N_LEADS
    for summary in (first, again, full):
        _adds_up(summary.counts)
    runs = _table(db, "lead_score_runs")
    assert list(runs["status"]) == ["completed"] * 3
    assert list(runs["mode"]) == ["full", "incremental", "full"]


def test_worker_processes_score_as_one_process_does_and_hash_events_the_same(
    tmp_path: Path, world: World, demo_config: Config, scorer_dir: Path
) -> None:
    # given the same SQLite database twice, with an event without a lead id (an error row);
    # pool workers read its events in columns (ADBC)
    engines = {}
    for name in ("one", "pool"):
        engines[name] = sa.create_engine(f"sqlite:///{tmp_path / name}.db")
        write_world(world, engines[name])
        with engines[name].begin() as conn:
            conn.exec_driver_sql(
                "insert into activities (event_id, lead_id, event_type, occurred_at) "
                "values (0, '', 'web_visit', '2025-10-01 10:00:00.5')"
            )
    cfg = _cfg(demo_config, engines["pool"])
    reader = event_reader(engines["pool"], sources(cfg, engines["pool"]).events)
    assert reader is not None
    reader.close()
    # when one is rescored in this process and the other by two worker processes
    _run(_cfg(demo_config, engines["one"]), engines["one"], scorer_dir)
    pooled = _run(cfg, engines["pool"], scorer_dir, workers=2)
    assert (pooled.counts["evaluated"], pooled.counts["errors"]) == (N_LEADS, 1)
    # then every table holds the same rows
    tables = [("lead_scores", "lead_id"), ("lead_stage_history", "lead_id")]
    for table, key in [*tables, ("lead_score_errors", ["lead_id", "row"])]:
        got, want = (
            _table(engines[n], table).drop(columns="id", errors="ignore").sort_values(key)
            for n in ("pool", "one")
        )
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
    # and the event statistics of the columnar reads hash as the incremental GROUP BY does
    again = _run(cfg, engines["pool"], scorer_dir, workers=2)
    assert (again.run.mode, again.counts["evaluated"], again.counts["written"]) == (
        "incremental",
        0,
        0,
    )


def test_incremental_run_picks_exactly_the_changed_leads(
    db: sa.Engine, demo_config: Config, scorer_dir: Path, world: World
) -> None:
    cfg = _cfg(demo_config, db)
    _run(cfg, db, scorer_dir)
    leads, activities = world.leads, world.activities
    meta = sa.MetaData()
    t_leads = sa.Table("leads", meta, autoload_with=db)
    t_events = sa.Table("activities", meta, autoload_with=db)
    t_accounts = sa.Table("accounts", meta, autoload_with=db)
    edited, with_event = leads["lead_id"].iloc[10], leads["lead_id"].iloc[500]
    # an account edit changes every lead of that account
    account = leads["account_id"].value_counts().index[-1]
    of_account = set(leads.loc[leads["account_id"] == account, "lead_id"])
    label_only = leads["lead_id"].iloc[900]  # a column validation does not read: no change
    with db.begin() as conn:
        conn.execute(
            t_leads.update()
            .where(t_leads.c.lead_id == edited)
            .values(title="Chief Revenue Officer")
        )
        conn.execute(
            t_leads.update().where(t_leads.c.lead_id == label_only).values(sdr_reject_reason="x")
        )
        conn.execute(
            t_events.insert().values(
                event_id=int(activities["event_id"].max()) + 1,
                lead_id=with_event,
                event_type="demo_request",
                occurred_at=AS_OF - timedelta(hours=2),
            )
        )
        conn.execute(
            t_accounts.update().where(t_accounts.c.account_id == account).values(employees=9999)
        )
        conn.execute(t_leads.insert().values(**_record(leads.iloc[0]) | {"lead_id": "Z0000001"}))
    second = _run(cfg, db, scorer_dir)
    expected = {edited, with_event, "Z0000001"} | of_account
    scores = _table(db, "lead_scores")
    assert set(scores.loc[scores["run_id"] == second.run.run_id, "lead_id"]) == expected
    c = second.counts
    assert (c["evaluated"], c["written"], c["new"]) == (len(expected), len(expected), 1)
    assert c["skipped"] == N_LEADS + 1 - len(expected)
    _adds_up(c)
    # the lead with a fresh demo request moved up; the history says when and with which model
    moved = _table(db, "lead_stage_history").query("run_id == @second.run.run_id")
    assert set(moved["lead_id"]) <= expected
    assert "Z0000001" in set(moved["lead_id"])
    # a new champion rescores everything
    third = _run(cfg, db, scorer_dir, version="2")
    assert third.run.mode == "full" and "new champion" in third.run.reason
    assert third.counts["evaluated"] == N_LEADS + 1
    assert set(_table(db, "lead_scores")["model_version"]) == {"2"}
    _adds_up(third.counts)


def test_counters_add_up_when_rows_are_rewritten_with_the_same_scores(
    sqlite_engine: sa.Engine, demo_config: Config, scorer_dir: Path, world: World
) -> None:
    # given a scored database, and the same model promoted again under a new version
    write_world(world, sqlite_engine)
    cfg = _cfg(demo_config, sqlite_engine)
    _run(cfg, sqlite_engine, scorer_dir)
    # when it rescores at the same point in time: the same scores, every row rewritten
    again = _run(cfg, sqlite_engine, scorer_dir, version="2")
    c = again.counts
    # then each lead counts once: written (its model version changed), not also unchanged
    assert (c["leads"], c["evaluated"], c["written"], c["unchanged"]) == (N_LEADS,) * 3 + (0,)
    _adds_up(c)
    # and so do the leads rewritten for a passed re-check time, a month later
    later = _run(cfg, sqlite_engine, scorer_dir, version="2", as_of=AS_OF + timedelta(days=31))
    assert later.counts["evaluated"] == N_LEADS
    _adds_up(later.counts)
    assert "= written + unchanged" in later.to_text()


def test_a_full_run_hashes_events_as_the_incremental_query_does(
    db: sa.Engine, demo_config: Config, world: World
) -> None:
    # given a lead with an event without a time and one dated after the run
    cfg = _cfg(demo_config, db)
    lead = world.leads["lead_id"].iloc[3]
    t_events = sa.Table("activities", sa.MetaData(), autoload_with=db)
    with db.begin() as conn:
        for n, when in enumerate((None, AS_OF + timedelta(days=3))):
            conn.execute(
                t_events.insert().values(
                    event_id=10**9 + n, lead_id=lead, event_type="web_visit", occurred_at=when
                )
            )
        # the same lead under a raw id that reads the same (" L..."): one lead to validation
        conn.execute(
            t_events.insert().values(
                event_id=10**9 + 2,
                lead_id=f" {lead}",
                event_type="web_visit",
                occurred_at=AS_OF - timedelta(days=1),
            )
        )
    src = sources(cfg, db)
    (chunk,), _ = chunks(db, src, None, 10 * N_LEADS)
    ids = list(world.leads["lead_id"])
    # when the statistics come from the events a full run reads, and from the GROUP BY
    with db.connect() as conn:
        queried = event_stats(conn, src, chunk, ids, AS_OF)
        raw = read_events(conn, src, chunk, None)
    events, _, row_ids = check_events(cfg, raw)
    computed = stats_of_events(events, row_ids, raw["occurred_at"], AS_OF)
    # then every lead's text is the same: no lead is due again after a full run
    assert computed == queried
    timed = world.activities.query("lead_id == @lead and occurred_at <= @AS_OF")
    # the untimed event counts, and so does the one under the spaced id
    assert computed[lead].split("\x1f")[0] == str(len(timed) + 2)


def test_lead_ids_read_as_floats_rescore_like_text_ids(
    sqlite_engine: sa.Engine, demo_config: Config, scorer_dir: Path, world: World
) -> None:
    # given a CRM whose id columns the driver reads as REAL (lead 1.0, 2.0, ...)
    number = {lead: float(i + 1) for i, lead in enumerate(world.leads["lead_id"])}
    floats = dataclasses.replace(
        world,
        leads=world.leads.assign(lead_id=world.leads["lead_id"].map(number)),
        activities=world.activities.assign(lead_id=world.activities["lead_id"].map(number)),
    )
    write_world(floats, sqlite_engine)
    cfg = _cfg(demo_config, sqlite_engine)
    # when it is rescored, then rescored again
    first = _run(cfg, sqlite_engine, scorer_dir)
    again = _run(cfg, sqlite_engine, scorer_dir)
    # then every lead is scored under its id as text ("1", not "1.0"), and nothing is due twice
    assert (first.counts["evaluated"], first.counts["errors"]) == (N_LEADS, 0)
    scores = _table(sqlite_engine, "lead_scores")
    assert set(scores["lead_id"]) == {f"{v:.0f}" for v in number.values()}
    assert (again.counts["evaluated"], again.counts["skipped"]) == (0, N_LEADS)


def test_time_decay_rechecks_leads_when_their_projected_stage_moves(
    db: sa.Engine, demo_config: Config, scorer_dir: Path, world: World
) -> None:
    cfg = _cfg(demo_config, db)
    _run(cfg, db, scorer_dir)
    before = _table(db, "lead_scores").set_index("lead_id")
    soon = before[before["next_check_at"] < pd.Timestamp(AS_OF + timedelta(days=30))]
    assert len(soon) > 0, "some leads should be projected to change stage within 30 days"
    later = pd.Timestamp(soon["next_check_at"].min()).to_pydatetime()
    projected = set(before.index[before["next_check_at"] <= pd.Timestamp(later)])
    # leads with activity between the two points in time have new inputs: due as well
    ev = world.activities
    active = set(ev.loc[(ev["occurred_at"] > AS_OF) & (ev["occurred_at"] <= later), "lead_id"])
    due = projected | active
    second = _run(cfg, db, scorer_dir, as_of=later)
    assert second.counts["evaluated"] == len(due)
    after = _table(db, "lead_scores").set_index("lead_id")
    assert set(after.index[after["run_id"] == second.run.run_id]) == due
    changed = after.loc[list(due), "stage"] != before.loc[list(due), "stage"]
    # a lead projected to move, with no new activity, moved exactly as projected
    quiet = list(projected - active)
    assert quiet and (after.loc[quiet, "stage"] != before.loc[quiet, "stage"]).all()
    history = _table(db, "lead_stage_history").query("run_id == @second.run.run_id")
    assert set(history["lead_id"]) == set(changed.index[changed])
    downs = history[history["direction"] == "down"]
    assert second.counts["moved_down"] == len(downs)
    assert second.counts["moved_up"] == len(history) - len(downs)
    assert all(h.from_stage == before.loc[h.lead_id, "stage"] for h in history.itertuples())
    # demotions are reported, not silent
    if len(downs):
        assert "dropped below its stage" in second.to_text()
    # and the leads not yet due are not touched
    assert (after.drop(index=list(due))["run_id"] == 1).all()
