"""Batch rescoring at its edges, on SQLite and the real PostgreSQL server: bad rows and the
error table, a model and a config that do not match, stored reasons, quoting, leads deleted from
the CRM and tables of an earlier version. The scoring itself: test_rescore.py."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.cli.main import app
from scoring.config import Config, NumericField
from scoring.data.bulk import write_frames
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
