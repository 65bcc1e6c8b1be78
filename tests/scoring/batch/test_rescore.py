"""Batch rescoring against a small synthetic CRM, on SQLite and the real PostgreSQL server:
upsert and idempotence, incremental change detection, stage history and time decay, the error
table, reasons, quoting and deleted leads. The run itself (lock, kill and resume, progress):
test_rescore_runs.py."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.batch.read import chunks, event_stats, read_events, sources, stats_of_events
from scoring.cli.main import app
from scoring.config import Config, NumericField
from scoring.data.bulk import write_frames
from scoring.data.columnar import event_reader
from scoring.data.load import load_events, load_leads
from scoring.data.validation import check_events
from scoring.features import build_features
from scoring.model.scorer import LeadScorer
from tests.conftest import TINY_CONFIG
from tests.scoring.batch.conftest import (
    AS_OF,
    N_LEADS,
    _adds_up,
    _cfg,
    _record,
    _run,
    _runs,
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


def test_bad_rows_go_to_the_error_table_and_the_run_finishes(
    db: sa.Engine, demo_config: Config, scorer_dir: Path, world: World, monkeypatch
) -> None:
    cfg = _cfg(demo_config, db)
    meta = sa.MetaData()
    t_leads = sa.Table("leads", meta, autoload_with=db)
    t_events = sa.Table("activities", meta, autoload_with=db)
    ids = world.leads["lead_id"]
    bad_outcome, crashing = ids.iloc[400], ids.iloc[777]
    with db.begin() as conn:
        conn.execute(
            t_leads.update().where(t_leads.c.lead_id == bad_outcome).values(outcome="maybe")
        )
        dup = _record(world.leads.iloc[5])
        conn.execute(t_leads.insert().values(**dup))
        conn.execute(t_leads.insert().values(**(dup | {"lead_id": None})))
        conn.execute(
            t_events.insert().values(event_id=10**9, lead_id=ids.iloc[6], event_type="web_visit")
        )
        for n, (lead, kind) in enumerate(((None, "web_visit"), (ids.iloc[7], None)), 1):
            conn.execute(
                t_events.insert().values(
                    event_id=10**9 + n, lead_id=lead, event_type=kind, occurred_at=AS_OF
                )
            )
    import scoring.batch.chunk as chunk

    real = chunk._scores

    def failing(ctx, leads, events):
        if crashing in leads.ids:
            raise RuntimeError("boom")
        return real(ctx, leads, events)

    monkeypatch.setattr(chunk, "_scores", failing)
    summary = _run(cfg, db, scorer_dir)
    errors = _table(db, "lead_score_errors")
    by_step = {
        (e.step, e.lead_id if isinstance(e.lead_id, str) else None): e for e in errors.itertuples()
    }
    assert "not a known outcome" in by_step[("validation", bad_outcome)].reason
    assert "appears more than once" in by_step[("validation", ids.iloc[5])].reason
    assert "missing lead id" in by_step[("validation", None)].reason
    assert "missing event time" in by_step[("events", ids.iloc[6])].reason
    assert by_step[("scoring", crashing)].reason == "RuntimeError: boom"
    assert summary.counts["errors"] == len(errors) == 7
    # events without a lead id or a type are errors, not skipped
    assert "missing lead id" in by_step[("events", None)].reason
    assert by_step[("events", ids.iloc[7])].reason == "missing event type"
    assert by_step[("events", ids.iloc[7])].fields == "event_type"
    scores = _table(db, "lead_scores")
    # the crashing lead alone is unscored; the duplicate kept its first row; the rest scored
    assert set(scores["lead_id"]) == set(ids) - {bad_outcome, crashing}
    assert summary.run.counts["evaluated"] == N_LEADS - 2
    assert summary.run.counts["failed"] == 2
    _adds_up(summary.counts)
    # fixed rows are scored by the next incremental run and leave the error table
    monkeypatch.setattr(chunk, "_scores", real)
    with db.begin() as conn:
        conn.execute(
            t_leads.update().where(t_leads.c.lead_id == bad_outcome).values(outcome="open")
        )
    _run(cfg, db, scorer_dir)
    errors = _table(db, "lead_score_errors")
    assert bad_outcome not in set(errors["lead_id"]) and crashing not in set(errors["lead_id"])
    assert {bad_outcome, crashing} <= set(_table(db, "lead_scores")["lead_id"])


def test_a_model_trained_without_min_rescores_with_the_configs_min(
    db: sa.Engine, demo_config: Config, scorer_dir: Path, world: World, tmp_path: Path
) -> None:
    """demo.yaml's `min: 0` came after models were trained on it: such a champion is not
    refused, and the config's minimum sends a negative value to the error table."""
    scorer = LeadScorer.load(scorer_dir)
    features = scorer.config.features
    fit = [
        f.model_copy(update={"min": None}) if isinstance(f, NumericField) else f
        for f in features.fit
    ]
    unbounded = features.model_copy(update={"fit": fit})
    assert unbounded != features  # the config bounds some of them
    folder = tmp_path / "scorer"
    dataclasses.replace(
        scorer, config=scorer.config.model_copy(update={"features": unbounded})
    ).save(folder)
    account = world.leads["account_id"].iloc[10]
    bad = set(world.leads.loc[world.leads["account_id"] == account, "lead_id"])
    t_accounts = sa.Table("accounts", sa.MetaData(), autoload_with=db)
    with db.begin() as conn:
        conn.execute(
            t_accounts.update().where(t_accounts.c.account_id == account).values(employees=-5)
        )
    summary = _run(_cfg(demo_config, db), db, folder)
    errors = _table(db, "lead_score_errors")
    assert set(errors["lead_id"]) == bad and set(errors["step"]) == {"validation"}
    assert errors["reason"].str.contains("below the minimum 0").all()
    assert set(errors["fields"]) == {"employees"}
    assert not bad & set(_table(db, "lead_scores")["lead_id"])
    assert summary.counts["failed"] == len(bad) and summary.counts["evaluated"] == N_LEADS - len(
        bad
    )


def test_rescore_takes_only_a_model_of_its_configs_source(
    mlflow_store: str, tmp_path: Path
) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    args = ["rescore", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'leads.db'}"]
    runner = CliRunner()
    # the champion looked up is the config's source's, and its absence says how to make one
    done = runner.invoke(app, args)
    assert done.exit_code == 3  # not found
    assert "no lead-scoring-tiny@champion in the MLflow registry" in done.output
    assert "`leadscore promote latest --source tiny`" in done.output
    # an export of another source's model is refused before the database is opened
    scorer = tmp_path / "models" / "lead-scoring-v1" / "artifacts" / "scorer"
    scorer.mkdir(parents=True)
    (scorer / "scorer.json").write_text(json.dumps({"config": {"name": "demo"}}))
    done = runner.invoke(app, [*args, "--model", str(tmp_path / "models" / "lead-scoring-v1")])
    assert done.exit_code == 2
    assert "was trained on source 'demo', not 'tiny'" in done.output
    assert not (tmp_path / "leads.db").exists()


def test_explain_stores_the_top_reasons_and_backfills_leads_without_them(
    sqlite_engine: sa.Engine, world: World, demo_config: Config, scorer_dir: Path
) -> None:
    write_world(world, sqlite_engine)
    cfg = _cfg(demo_config, sqlite_engine)
    _run(cfg, sqlite_engine, scorer_dir)
    assert _table(sqlite_engine, "lead_scores")["reasons"].isna().all()
    # an incremental --explain run evaluates the leads that have no reasons yet: all of them
    explained = _run(cfg, sqlite_engine, scorer_dir, explain=True)
    assert explained.counts["evaluated"] == explained.counts["written"] == N_LEADS
    # same scores, reasons added: each row rewritten, so written and not also unchanged
    assert explained.counts["unchanged"] == 0 and explained.counts["moved_up"] == 0
    _adds_up(explained.counts)
    scores = _table(sqlite_engine, "lead_scores").set_index("lead_id")
    reasons = scores["reasons"].map(json.loads)
    first = reasons.iloc[0]
    assert set(first) == {"baseline_probability", "positive", "negative", "to_sql"}
    assert all(len(r["positive"]) <= 3 and len(r["negative"]) <= 3 for r in reasons)
    assert {"field", "label", "impact", "text"} <= set((first["positive"] + first["negative"])[0])
    # leads at SQL need no gap to it; the others say how far they are
    sql = scores["stage"] == "sql"
    assert reasons[sql].map(lambda r: r["to_sql"] is None).all()
    assert reasons[~sql].map(lambda r: r["to_sql"] is not None).all()
    # a later run without --explain keeps them while the scores stay the same
    again = _run(cfg, sqlite_engine, scorer_dir, full=True)
    assert again.counts["written"] == 0
    assert _table(sqlite_engine, "lead_scores")["reasons"].notna().all()


def test_identifiers_from_the_config_are_quoted(
    any_engine: sa.Engine, world: World, demo_config: Config, scorer_dir: Path
) -> None:
    names = {"leads": 'lead\'s "list"; drop', "accounts": "acc ounts", "activities": 'act"ivities'}
    frames = {"leads": world.leads, "accounts": world.accounts, "activities": world.activities}
    write_frames(any_engine, {names[k]: v for k, v in frames.items()})
    leads = demo_config.leads.model_copy(
        update={
            "table": names["leads"],
            "joins": [demo_config.leads.joins[0].model_copy(update={"table": names["accounts"]})],
        }
    )
    events = demo_config.events.model_copy(update={"table": names["activities"]})
    cfg = _cfg(demo_config, any_engine).model_copy(update={"leads": leads, "events": events})
    summary = _run(cfg, any_engine, scorer_dir)
    assert summary.counts["evaluated"] == N_LEADS and summary.counts["errors"] == 0
    with any_engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) >= set(names.values())


def test_leads_deleted_from_the_crm_are_marked_and_come_back_when_restored(
    db: sa.Engine, demo_config: Config, scorer_dir: Path, world: World
) -> None:
    # given a scored database, a lead with an error row, and three leads then deleted in the CRM
    cfg = _cfg(demo_config, db)
    t_leads = sa.Table("leads", sa.MetaData(), autoload_with=db)
    ids = list(world.leads["lead_id"])
    deleted = ids[100:103]
    with db.begin() as conn:
        conn.execute(t_leads.update().where(t_leads.c.lead_id == ids[101]).values(outcome="maybe"))
    _run(cfg, db, scorer_dir)
    assert ids[101] in set(_table(db, "lead_score_errors")["lead_id"])
    with db.begin() as conn:
        conn.execute(t_leads.delete().where(t_leads.c.lead_id.in_(deleted)))
    # when the next run reads the lead database
    later = AS_OF + timedelta(hours=1)
    second = _run(cfg, db, scorer_dir, as_of=later)
    # then their rows are kept, marked deleted at that run, and their errors are gone
    scores = _table(db, "lead_scores").set_index("lead_id")
    marked = scores[scores["deleted_at"].notna()]
    assert sorted(marked.index) == sorted(set(deleted) - {ids[101]})  # 101 was never scored
    assert (pd.to_datetime(marked["deleted_at"]) == later).all()
    assert (marked["run_id"] == second.run.run_id).all()
    assert scores.drop(index=marked.index)["deleted_at"].isna().all()
    assert ids[101] not in set(_table(db, "lead_score_errors")["lead_id"])
    assert second.counts["deleted"] == 2 and f"deleted    {2:>12,}" in second.to_text()
    _adds_up(second.counts)
    # a run after that marks nothing again
    assert _run(cfg, db, scorer_dir, as_of=later).counts["deleted"] == 0
    # and a lead restored in the CRM is scored again and unmarked
    restored = world.leads.set_index("lead_id").loc[[deleted[0]]].reset_index().iloc[0]
    with db.begin() as conn:
        conn.execute(t_leads.insert().values(**_record(restored)))
    back = _run(cfg, db, scorer_dir, as_of=later)
    assert back.counts["evaluated"] == back.counts["written"] == 1
    scores = _table(db, "lead_scores").set_index("lead_id")
    assert pd.isna(scores.loc[deleted[0], "deleted_at"])
    assert scores["deleted_at"].notna().sum() == 1


def test_tables_of_an_earlier_version_get_the_new_columns(
    any_engine: sa.Engine, world: World, demo_config: Config, scorer_dir: Path
) -> None:
    # given rescoring tables made before deleted_at and the leads/skipped/failed/deleted counters
    write_world(world, any_engine)
    _run(_cfg(demo_config, any_engine), any_engine, scorer_dir)
    added = {
        "lead_scores": ["deleted_at"],
        "lead_score_runs": ["leads", "skipped", "failed", "deleted"],
    }
    with any_engine.begin() as conn:
        for table, names in added.items():
            for name in names:
                conn.execute(sa.text(f'ALTER TABLE {table} DROP COLUMN "{name}"'))
    # when a new version rescores it
    summary = _run(_cfg(demo_config, any_engine), any_engine, scorer_dir, full=True)
    # then the columns are back, the old run's counters 0, and the new run's add up
    _adds_up(summary.counts)
    runs = _runs(any_engine)
    assert list(runs["leads"]) == [0, N_LEADS]
    assert list(runs[["skipped", "failed", "deleted"]].iloc[0]) == [0, 0, 0]
    assert summary.counts["deleted"] == runs["deleted"].iloc[1] == 0
    assert _table(any_engine, "lead_scores")["deleted_at"].isna().all()
