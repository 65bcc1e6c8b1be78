"""Batch rescoring of the lead database: incremental, resumable, nothing lost (docs/batch.md).

    leadscore rescore --config configs/demo.yaml [--db URL] [--full] [--explain] [--as-of T]

Leads are read in chunks of lead ids, scored by the champion model with the real-time feature
code at one point in time (`as_of`), and upserted into `lead_scores`; stage changes go to
`lead_stage_history`, rows that fail to `lead_score_errors`. A worker pool evaluates chunks in
parallel; the parent writes them in id order, each chunk with the run's progress in one
transaction, so a killed run resumes after its last committed chunk.

Around the scoring, under the same lock: first the CRM's activity table (the config's
`feedback.crm`) is copied into lead_feedback (`scoring.feedback.crm.sync_crm`), then, once the
run has finished, the handoff SLA is checked as of the run's `as_of` (`scoring.monitoring.
metrics.check_sla`). The summary has a line for each: the sync's counts first, and last the line
per rule that `leadscore sla` ends with. A sync or check that cannot run (a CRM table that is not
in the database, a config without a funnel before the first run staged a lead) is one line
saying why, not a failed run: exit codes and counters are the scoring's alone.

With a `challenger` (scoring/batch/shadow.py), each chunk is scored by it too, in the same
worker after the champion, into lead_shadow_scores; its rows are written after the champion's
chunk is committed, in their own transaction. It never changes lead_scores, the stage history or
the run's counters, and its failures are the summary's `shadow:` line, never the run's.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from multiprocessing.pool import Pool
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.batch.chunk import ChunkResult, Context, Explainer, process, process_null_ids
from scoring.batch.lock import Holder, acquire, release, utcnow
from scoring.batch.progress import progress
from scoring.batch.read import Chunk, Sources, chunks, count_after, gone, sources
from scoring.batch.runs import Run, finish, start
from scoring.batch.shadow import Challenger, ShadowChunk, ShadowSpec, ShadowTally, score_chunk
from scoring.batch.tables import COUNTERS, Tables, create, define
from scoring.batch.write import Gone, write_chunk, write_last
from scoring.config import Config, ConfigError, FeatureGroups
from scoring.config.credentials import hide_url
from scoring.data.columnar import event_reader
from scoring.data.database import ensure_indexes
from scoring.feedback.crm import sync_crm
from scoring.model.scorer import LeadScorer
from scoring.model.shadow import create as create_shadow
from scoring.monitoring.metrics import check_sla, summary_lines
from scoring.monitoring.sla import checked_rules
from scoring.settings import settings, variable

CHUNK_ROWS = 20_000
MIN_CHUNK = 1_000


@dataclass(frozen=True)
class Options:
    full: bool = False
    explain: bool = False
    as_of: datetime | None = None  # naive UTC; default: now
    chunk_rows: int = CHUNK_ROWS
    workers: int = 0  # 0: one per core; 1: in this process
    restart: bool = False  # abandon an interrupted run instead of resuming it
    create_indexes: bool = True
    log_every: float = 10.0  # seconds between progress lines when not on a terminal


@dataclass
class Summary:
    run: Run
    leads: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    demotions: list[tuple[str, str, str]] = field(default_factory=list)
    feedback: str | None = None  # the CRM sync's line (None: the config maps no CRM table)
    sla: list[str] = field(default_factory=list)  # a line per SLA rule, as `leadscore sla`'s
    shadow: str | None = None  # the challenger's line (None: no challenger)

    @property
    def counts(self) -> dict[str, int]:
        return self.run.counts

    def to_text(self) -> str:
        run, c = self.run, self.run.counts
        rate = self.leads / self.seconds if self.seconds else 0.0
        lines = [
            *([self.feedback] if self.feedback else []),
            f"rescore run {run.run_id} ({run.mode}: {run.reason}), model version "
            f"{run.model_version}, as of {run.as_of:%Y-%m-%d %H:%M:%S} UTC",
            *(f"  {note}" for note in self.notes),
            f"  {self.leads:,} lead rows read in {self.seconds:.1f} s ({rate:,.0f} rows/s)",
            f"  leads      {c['leads']:>12,}  (= scored + not due + failed)",
            f"  scored     {c['evaluated']:>12,}  (= written + unchanged)",
            f"    written  {c['written']:>12,}  (new leads {c['new']:,})",
            f"    unchanged{c['unchanged']:>12,}  (scored, row already held exactly this)",
            f"  not due    {c['skipped']:>12,}  (inputs, model and re-check time as stored)",
            f"  failed     {c['failed']:>12,}  (leads not scored: see lead_score_errors)",
            f"  errors     {c['errors']:>12,}  rows"
            + ("  (see lead_score_errors)" if c["errors"] else ""),
            f"  deleted    {c['deleted']:>12,}  (gone from the lead database: "
            "lead_scores.deleted_at set)",
            f"  stage moves: {c['moved_up']:,} up, {c['moved_down']:,} down"
            + (f" (lead_stage_history, run_id = {run.run_id})" if c["moved_down"] else ""),
        ]
        for lead_id, was, now in self.demotions:
            lines.append(f"    dropped below its stage: {lead_id} {was} -> {now}")
        if c["moved_down"] > len(self.demotions):
            lines.append(f"    ... and {c['moved_down'] - len(self.demotions):,} more")
        if self.shadow:
            lines.append(f"  {self.shadow}")
        return "\n".join([*lines, *self.sla])


VALIDATION_ONLY = {"min"}  # what a row may hold, not how its features are computed


def compatible_config(cfg: Config, scorer: LeadScorer, role: str = "champion") -> Config:
    """The config to rescore with: the data source's, with the features the model was trained
    on. Its features must be the model's, or the model's plus columns training left out (leak
    suspects of the data check); anything else is another model's config. Settings that only
    validate rows (`min`) may differ, and the config's are kept: they judge the rows read
    today, and the model, trained without them or with others, computes the same features."""
    model = scorer.config
    # where the events are, and `ready` (the threshold replay's, not a feature), may differ
    ignore = {"table", "lead_id", "type", "timestamp", "ready"}
    same_events = (cfg.events is None) == (model.events is None) and (
        cfg.events is None
        or cfg.events.model_dump(exclude=ignore) == model.events.model_dump(exclude=ignore)
    )
    used = {f.column for f in (*model.features.fit, *model.features.intent)}
    trimmed = cfg.features.model_copy(
        update={
            "fit": [f for f in cfg.features.fit if f.column in used],
            "intent": [f for f in cfg.features.intent if f.column in used],
        }
    )
    if _computed(trimmed) != _computed(model.features) or not same_events:
        raise ConfigError(
            f"config {cfg.name!r} describes features differently from the ones the {role} was "
            f"trained on (source {model.name!r}): rescore with the training config, or retrain"
        )
    return cfg.model_copy(update={"features": trimmed})


def _computed(features: FeatureGroups) -> dict:
    """The features as they are computed: without the settings that only validate rows."""
    each = {"__all__": VALIDATION_ONLY}
    return features.model_dump(exclude={"fit": each, "intent": each})


def validating(scorer: LeadScorer, cfg: Config) -> LeadScorer:
    """`scorer` with the features of `cfg`, a `compatible_config`: the chunks validate rows
    with the scorer's config, so with the config's `min`."""
    return replace(scorer, config=scorer.config.model_copy(update={"features": cfg.features}))


REASON_KEYS = ("baseline_probability", "positive", "negative", "to_sql")


def explainer() -> Explainer:
    """The top reasons of each lead (scoring.model.reasons: exact TreeSHAP through the
    combiner), kept to what a rep reads: the baseline, top 3 positive and negative reasons,
    the gap to SQL."""
    try:
        from scoring.model import reasons
    except ImportError as exc:
        raise ConfigError(f"--explain needs scoring.model.reasons ({exc})") from None

    def explain(
        scorer: LeadScorer, features: Mapping[str, np.ndarray], scores: Mapping[str, np.ndarray]
    ) -> list[dict]:
        found = reasons.explain(scorer, features, top=3, scores=scores)
        return [{k: r.get(k) for k in REASON_KEYS} for r in found]

    return explain


# ---------------------------------------------------------------- workers


_WORKER: dict = {}


def _engine(url: sa.URL) -> sa.Engine:
    if url.get_backend_name() == "sqlite":
        return sa.create_engine(url, connect_args={"timeout": settings().sqlite_busy_seconds})
    return sa.create_engine(url)


def _init_worker(
    cfg: Config,
    url: sa.URL,
    scorer_dir: str,
    ctx_args: dict,
    shadow: ShadowSpec | None = None,
    pooled: bool = False,
) -> None:
    """Per process: engine, scorer, readers (columnar event reads in pool workers only: see
    scoring/columnar.py), and the challenger's when the run has one. A failure is kept and
    raised by the first chunk (a pool whose initializer raises would respawn workers forever);
    the challenger's is kept apart: it only ends the shadow pass."""
    _WORKER.clear()
    try:
        engine = _engine(url)
        args = dict(ctx_args)
        explain = explainer() if args.pop("explain") else None
        src = sources(cfg, engine)
        if pooled:
            src = replace(src, columnar=event_reader(engine, src.events))
        _WORKER.update(
            ctx=Context(
                scorer=validating(LeadScorer.load(Path(scorer_dir)), cfg),
                explainer=explain,
                **args,
            ),
            src=src,
            engine=engine,
            tables=define(),
        )
    except Exception as exc:
        _WORKER["failed"] = exc
        return
    if shadow is not None:
        try:
            _WORKER["shadow"] = _shadow_context(shadow, engine, ctx_args, pooled)
        except Exception as exc:
            _WORKER["shadow_failed"] = f"the challenger could not start: {exc!r}"


def _shadow_context(
    spec: ShadowSpec, engine: sa.Engine, ctx_args: dict, pooled: bool
) -> tuple[Context, Sources]:
    """The challenger's context and readers: its own config (its features), the run's as_of."""
    src = sources(spec.cfg, engine)
    if pooled:
        src = replace(src, columnar=event_reader(engine, src.events))
    ctx = Context(
        scorer=validating(LeadScorer.load(Path(spec.scorer_dir)), spec.cfg),
        version=spec.version,
        run_id=ctx_args["run_id"],
        as_of=ctx_args["as_of"],
        full=True,
    )
    return ctx, src


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A chunk allocates millions of short-lived tuples and strings (rows read); the cyclic
    collector would walk them again and again, for nothing: reference counts free them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


Done = tuple[ChunkResult, ShadowChunk | None]


def _work(chunk: Chunk) -> Done:
    w = _WORKER
    if "failed" in w:
        raise RuntimeError(f"rescoring worker could not start: {w['failed']!r}") from w["failed"]
    with _no_cyclic_gc():
        result = process(w["ctx"], w["src"], w["engine"], w["tables"], chunk)
        return result, _shadow_work(chunk, result)


def _shadow_work(chunk: Chunk, result: ChunkResult) -> ShadowChunk | None:
    """The challenger's pass over the chunk; whatever goes wrong is returned, not raised."""
    w = _WORKER
    if "shadow_failed" in w:
        return ShadowChunk.failure(w["shadow_failed"])
    if "shadow" not in w:
        return None
    ctx, src = w["shadow"]
    try:
        return score_chunk(ctx, src, w["engine"], chunk, result.evaluated_ids)
    except Exception as exc:
        return ShadowChunk.failure(f"{type(exc).__name__}: {exc}")


@contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Each worker runs LightGBM on one thread: the pool is the parallelism."""
    keys = (variable("threads"), "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict.fromkeys(keys, "1"))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _workers(count: int, init_args: tuple) -> Iterator[Pool | None]:
    """A pool of `count` worker processes, started at once: they import and load the model while
    the caller goes on. None (and the work done in this process) for a count of 1."""
    if count <= 1:
        _init_worker(*init_args)
        try:
            yield None
        finally:
            if "engine" in _WORKER:
                _WORKER["engine"].dispose()
            _WORKER.clear()
        return
    with _single_threaded_children():
        pool = mp.get_context("spawn").Pool(count, _init_worker, (*init_args, True))
    try:
        yield pool
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _results(pool: Pool | None, chunks: list[Chunk], window: int) -> Iterator[Done]:
    """Chunk results in id order; at most `window` chunks in flight (memory stays flat)."""
    if pool is None:
        yield from map(_work, chunks)
        return
    todo = iter(chunks)
    pending: deque = deque()
    for chunk in todo:
        pending.append(pool.apply_async(_work, (chunk,)))
        if len(pending) >= window:
            break
    while pending:
        result = pending.popleft().get()
        nxt = next(todo, None)
        if nxt is not None:
            pending.append(pool.apply_async(_work, (nxt,)))
        yield result


# ---------------------------------------------------------------- the run


def chunk_size(leads: int, workers: int, most: int) -> int:
    """`most` leads per chunk, fewer when that leaves workers idle: a small database still gets
    about four chunks per worker (and at least MIN_CHUNK leads per chunk)."""
    if workers <= 1:
        return most
    return max(min(most, -(-leads // (4 * workers))), min(most, MIN_CHUNK))


def _as_of(value: datetime | None) -> datetime:
    if value is None:
        return utcnow()
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def _demotions(engine: sa.Engine, tables: Tables, run: Run, limit: int = 10) -> list:
    h = tables.history
    query = (
        sa.select(h.c.lead_id, h.c.from_stage, h.c.to_stage)
        .where(h.c.run_id == run.run_id, h.c.direction == "down")
        .order_by(h.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query).all()]


def rescore(
    cfg: Config,
    engine: sa.Engine,
    scorer_dir: Path,
    version: str,
    options: Options = Options(),
    stream: TextIO | None = None,
    challenger: Challenger | None = None,
    execute: Execute | None = None,
) -> Summary:
    """Rescore the lead database `engine` with the scorer in `scorer_dir` (model `version`), and
    in shadow with `challenger` if given (into lead_shadow_scores only). `execute` scores and
    writes the leads of the started run (default: this module's chunks and worker pool; the
    Spark engine's is scoring.batch.spark.job.execute); around it, the same lock, run, feedback
    sync and SLA lines."""
    stream = stream or sys.stderr
    began = time.perf_counter()
    scorer = LeadScorer.load(scorer_dir)
    shadow = _shadow_spec(cfg, engine, challenger, version)
    cfg = compatible_config(cfg, scorer)
    scorer = validating(scorer, cfg)
    if options.explain:
        explainer()  # fail before taking the lock
    notes = ensure_indexes(cfg, engine) if options.create_indexes else []
    tables = create(engine)
    holder = Holder.me()
    reclaimed = acquire(engine, tables, holder)
    if reclaimed:
        notes.append(f"reclaimed the lock of a crashed run ({reclaimed})")
    try:
        synced = _sync_feedback(cfg, engine)
        run = start(
            engine,
            tables,
            holder,
            version,
            _as_of(options.as_of),
            options.full,
            options.explain,
            options.restart,
        )
        if run.resumed_from is not None:
            notes.append(
                f"resumed run {run.run_id} after {run.chunks_done} committed chunks "
                f"(as of {run.as_of:%Y-%m-%d %H:%M:%S}, {run.mode})"
            )
        try:
            job = Job(cfg, engine, tables, holder, run, scorer, scorer_dir, options, stream, shadow)
            leads = (execute or _execute)(job)
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            with engine.begin() as conn:
                finish(conn, tables, run, status)
            raise
    finally:
        release(engine, tables, holder)
    demoted = _demotions(engine, tables, run) if run.counts["moved_down"] else []
    sla = _sla_lines(cfg, engine, run.as_of)
    seconds = time.perf_counter() - began
    told = shadow.tally.to_text() if shadow else None
    return Summary(run, leads, seconds, notes, demoted, synced, sla, told)


@dataclass
class _Shadow:
    tally: ShadowTally
    spec: ShadowSpec | None  # None: the challenger cannot score (tally.challenger.problem)


def _shadow_spec(
    cfg: Config, engine: sa.Engine, challenger: Challenger | None, champion: str
) -> _Shadow | None:
    """The challenger ready for the workers, or why it cannot score (never raised: the
    champion's run goes on): its features must be computable from the config, as the
    champion's, and its table must exist."""
    if challenger is None:
        return None
    problem = challenger.problem
    spec = None
    if problem is None and challenger.version == champion:
        problem = f"version {champion} is the champion itself"
    if problem is None and challenger.scorer_dir is not None:
        try:
            own = compatible_config(cfg, LeadScorer.load(challenger.scorer_dir), "challenger")
            create_shadow(engine)
            spec = ShadowSpec(own, str(challenger.scorer_dir), challenger.version)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
    if spec is None:
        problem = problem or "no scorer folder"
        return _Shadow(ShadowTally(replace(challenger, problem=problem)), None)
    return _Shadow(ShadowTally(challenger), spec)


def _sync_feedback(cfg: Config, engine: sa.Engine) -> str | None:
    """Copy the CRM's activity table into lead_feedback: the line of its counts, or of why it
    could not be read (None: the config maps no CRM table)."""
    if cfg.feedback.crm is None:
        return None
    what = f"feedback sync of {cfg.feedback.crm.table}"
    try:
        done = sync_crm(cfg, engine, utcnow())
    except ConfigError as exc:  # a CRM table or column not (yet) there: the leads still rescore
        return f"{what}: not done: {exc}"
    assert done is not None
    return done.to_text(what)


def _sla_lines(cfg: Config, engine: sa.Engine, as_of: datetime) -> list[str]:
    """`leadscore sla`'s line per rule, as of the run's `as_of`; one line saying why when the
    clocks cannot be read (the scores are written: the run stays a success)."""
    if not checked_rules(cfg.sla):
        return []
    try:
        return summary_lines(check_sla(cfg, engine, as_of).totals)
    except ConfigError as exc:
        return [f"SLA not checked: {exc}"]
    except sa.exc.SQLAlchemyError as exc:
        return [f"SLA not checked: {type(exc).__name__} reading {hide_url(engine.url)}"]


def run_context(run: Run, scorer: LeadScorer, explain: Explainer | None = None) -> Context:
    """What scoring the leads of `run` shares, in the parent (the workers build theirs)."""
    return Context(
        scorer=scorer,
        version=run.model_version,
        run_id=run.run_id,
        as_of=run.as_of,
        full=run.full,
        explainer=explain,
    )


@dataclass(frozen=True)
class Job:
    """A started run and what scoring it needs: what an `Execute` gets."""

    cfg: Config
    engine: sa.Engine
    tables: Tables
    holder: Holder
    run: Run
    scorer: LeadScorer
    scorer_dir: Path
    options: Options
    stream: TextIO
    shadow: _Shadow | None = None


Execute = Callable[[Job], int]  # scores and writes the run's leads; returns the lead rows read


def _execute(job: Job) -> int:
    """The single-machine engine: chunks of lead ids scored by the worker pool, written in id
    order."""
    engine, run, options, shadow = job.engine, job.run, job.options, job.shadow
    src: Sources = sources(job.cfg, engine)
    workers = options.workers or os.cpu_count() or 1
    leads = count_after(engine, src, run.last_key)
    size = chunk_size(leads, workers, options.chunk_rows)
    workers = min(workers, max(-(-leads // size), 1))
    ctx_args = {
        "version": run.model_version,
        "run_id": run.run_id,
        "as_of": run.as_of,
        "full": run.full,
        "explain": run.explain,
    }
    spec = shadow.spec if shadow else None
    init_args = (job.cfg, engine.url, str(job.scorer_dir), ctx_args, spec)
    with _workers(workers, init_args) as pool:
        chunk_list, total = chunks(engine, src, run.last_key, size)  # while the workers start
        bar = progress(total, job.stream, options.log_every)
        try:
            for result, shadowed in _results(pool, chunk_list, window=workers + 2):
                write_chunk(engine, job.tables, run, job.holder, result)
                if shadow is not None:
                    shadow.tally.add(engine, shadowed)
                bar.advance(result.rows)
        finally:
            bar.close()
    ctx = run_context(run, job.scorer)
    nulls, gone = process_null_ids(ctx, src, engine), _gone(engine, src, job.tables)
    write_last(engine, job.tables, run, job.holder, nulls, gone)
    return total


def _gone(engine: sa.Engine, src: Sources, tables: Tables) -> Gone:
    """The leads deleted from the lead database that the rescoring tables still hold."""
    scores, errors = tables.scores, tables.errors
    with engine.connect() as conn:
        return Gone(
            gone(conn, src, sa.select(scores.c.lead_id).where(scores.c.deleted_at.is_(None))),
            gone(
                conn,
                src,
                sa.select(errors.c.lead_id).where(errors.c.lead_id.is_not(None)).distinct(),
            ),
        )


__all__ = ["COUNTERS", "Challenger", "Execute", "Job", "Options", "Summary", "rescore"]
