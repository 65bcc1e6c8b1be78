"""A rescoring run on Spark: the leads read where they live, scored bucket by bucket on the
executors, and the results written where the user's data lives.

- Into the lead database (`--db`): the executors' rows land in a Parquet staging folder; the
  driver streams it, decides per batch which leads are due exactly as the single-machine engine
  does (stored input hash, model, re-check time) and writes them with that engine's writer
  (`settle`, `write_chunk`): the same lead_scores rows, stage history, errors and run counters,
  under the same lock. lead_scores is upserted and compared row by row, which Spark's JDBC
  writer (append or overwrite) cannot do.
- Into a Parquet (or Delta) folder (`--output`): `scores/` and `errors/`, written by the
  executors; no stored scores, so no stage history and every lead read is written.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.batch.chunk import ChunkResult, Context, Evaluated, due_ids, settle
from scoring.batch.progress import progress
from scoring.batch.read import id_hashes, missing, read_reasons, read_stored
from scoring.batch.rescore import Execute, Job, explainer, run_context
from scoring.batch.runs import Run
from scoring.batch.spark.group import SCHEMA, SCORES, GroupSpec, score_bucket
from scoring.batch.spark.source import bucketed, changed_since, read_frames
from scoring.batch.tables import Tables
from scoring.batch.write import Gone, write_chunk, write_last
from scoring.config import Config
from scoring.data.load import validated_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

BUCKET_LEADS = 20_000  # leads scored together on an executor (one pandas call)


@dataclass(frozen=True)
class SparkOptions:
    input: str  # a database's SQLAlchemy URL (JDBC) or a folder of Parquet tables
    since: datetime | None = None  # only leads with a date or an event after it
    staging: str | None = None  # where results wait for the driver (default: a temp folder)


def scored(
    spark: SparkSession,
    cfg: Config,
    scorer_dir: Path,
    version: str,
    as_of: datetime,
    explain: bool,
    options: SparkOptions,
    bucket_leads: int = BUCKET_LEADS,
) -> DataFrame:
    """The `lead` and `error` rows (group.SCHEMA) of every lead read from `options.input`."""
    frames = read_frames(spark, cfg, options.input)
    if options.since is not None:
        frames = changed_since(cfg, frames, options.since)
    lead_ints, event_ints = frames.integral()
    spec = GroupSpec(
        cfg=cfg,
        scorer=_shipped(spark, scorer_dir),
        version=version,
        as_of=as_of,
        explain=explain,
        columns=frames.columns,
        used=tuple(frames.columns.index(c) for c in validated_columns(cfg)),
        split=frames.split,
        event_split=frames.event_split,
        integral=lead_ints,
        event_integral=event_ints,
    )
    leads = _as_text(frames.leads, lead_ints)
    count = frames.rows if frames.rows is not None else leads.count()
    parallel = spark.sparkContext.defaultParallelism
    buckets = max(math.ceil(count / bucket_leads), parallel, 1)
    spark.conf.set("spark.sql.shuffle.partitions", str(max(min(buckets, 4 * parallel), 1)))
    leads = bucketed(leads, cfg.leads.id, frames.split, buckets)
    if frames.events is None:
        return leads.groupBy("bucket").applyInPandas(
            lambda part: score_bucket(spec, part, pd.DataFrame()), SCHEMA
        )
    events = bucketed(_as_text(frames.events, event_ints), "lead_id", frames.event_split, buckets)
    together = leads.groupBy("bucket").cogroup(events.groupBy("bucket"))
    return together.applyInPandas(lambda part, acts: score_bucket(spec, part, acts), SCHEMA)


def _as_text(frame: DataFrame, integral: frozenset[str]) -> DataFrame:
    """Integer columns as text: pandas would turn a column with gaps into floats."""
    from pyspark.sql import functions as F

    return frame.select(
        *(
            F.col(f"`{c}`").cast("string").alias(c) if c in integral else F.col(f"`{c}`")
            for c in frame.columns
        )
    )


def _shipped(spark: SparkSession, scorer_dir: Path) -> str:
    """The scorer folder as the executors find it: its path in local mode, else a copy shipped
    with SparkContext.addFile under a name of its own."""
    context = spark.sparkContext
    if context.master.startswith("local"):
        return str(scorer_dir.resolve())
    name = f"leadscore-scorer-{uuid.uuid4().hex}"
    copy = Path(tempfile.mkdtemp(prefix="leadscore-ship-")) / name
    shutil.copytree(scorer_dir, copy)
    context.addFile(str(copy), recursive=True)
    return name


# ---------------------------------------------------------------- into a Parquet/Delta folder


@dataclass(frozen=True)
class Written:
    leads: int  # lead ids read
    scored: int
    failed: int
    errors: int
    seconds: float

    def to_text(self, where: str) -> str:
        rate = self.leads / self.seconds if self.seconds else 0.0
        return "\n".join(
            [
                f"spark rescore into {where}: {self.leads:,} leads in {self.seconds:.1f} s "
                f"({rate:,.0f} leads/s)",
                f"  scored     {self.scored:>12,}  ({where}/scores)",
                f"  failed     {self.failed:>12,}  (leads not scored: see {where}/errors)",
                f"  errors     {self.errors:>12,}  rows ({where}/errors)",
            ]
        )


def write_output(
    rows: DataFrame, where: str, version: str, as_of: datetime, fmt: str = "parquet"
) -> tuple[int, int, int, int]:
    """`scores/` (lead_scores' columns) and `errors/` (lead_score_errors') under `where`,
    replacing what was there; (leads, scored, failed, errors)."""
    from pyspark.sql import functions as F

    rows = rows.persist()
    try:
        leads = rows.where(F.col("kind") == "lead")
        scores = leads.where(F.col("stage").isNotNull()).select(
            "lead_id",
            F.lit(version).alias("model_version"),
            F.lit(as_of).cast("timestamp_ntz").alias("scored_at"),
            *SCORES,
            "stage",
            "grade",
            "reasons",
            "input_hash",
            "next_check_at",
        )
        errors = rows.where(F.col("kind") == "error").select(
            "lead_id",
            "step",
            "fields",
            "reason",
            "row",
            F.lit(as_of).cast("timestamp_ntz").alias("detected_at"),
        )
        for name, frame in (("scores", scores), ("errors", errors)):
            frame.write.format(fmt).mode("overwrite").save(f"{where.rstrip('/')}/{name}")
        counts = leads.agg(
            F.count(F.lit(1)).alias("leads"), F.count("stage").alias("scored")
        ).first()
        return counts["leads"], counts["scored"], counts["leads"] - counts["scored"], errors.count()
    finally:
        rows.unpersist()


# ---------------------------------------------------------------- into the lead database


def staged(rows: DataFrame, folder: str) -> None:
    rows.write.mode("overwrite").parquet(folder)


def _batches(folder: str, size: int) -> Iterator[pd.DataFrame]:
    import pyarrow.dataset as ds

    data = ds.dataset(folder, format="parquet")
    for batch in data.to_batches(filter=ds.field("kind") == "lead", batch_size=size):
        if batch.num_rows:
            yield batch.to_pandas()


def _errors(folder: str, run: Run) -> pd.DataFrame:
    import pyarrow.dataset as ds

    data = ds.dataset(folder, format="parquet")
    wanted = ["lead_id", "step", "fields", "reason", "row"]
    frame = data.to_table(columns=wanted, filter=ds.field("kind") == "error").to_pandas()
    frame = frame.astype(object).where(frame.notna(), None)
    frame["detected_at"], frame["run_id"] = run.as_of, run.run_id
    return frame


def _scores(batch: pd.DataFrame, due: set[str]) -> dict[str, np.ndarray] | None:
    """The batch's scores of the due leads that scored, by column, as `evaluate` gives them."""
    picked = batch[batch["stage"].notna() & batch["lead_id"].isin(due)]
    if picked.empty:
        return None
    out: dict[str, np.ndarray] = {
        c: picked[c].astype(object).where(picked[c].notna(), None).to_numpy()
        for c in ("lead_id", "stage", "grade", "reasons")
    }
    for c in SCORES:
        out[c] = picked[c].to_numpy(dtype=float)
    stamps = pd.to_datetime(picked["next_check_at"])
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    out["next_check_at"] = stamps.to_numpy().astype("datetime64[us]")
    return out


def settle_batch(
    ctx: Context,
    engine: sa.Engine,
    tables: Tables,
    batch: pd.DataFrame,
    errors: dict[str, list[dict]],
    index: int,
) -> ChunkResult:
    """One staged batch as a chunk's result: due leads picked and compared with lead_scores."""
    ids = batch["lead_id"].tolist()
    hashes = dict(zip(ids, batch["input_hash"].tolist(), strict=True))
    with engine.connect() as conn:
        stored = read_stored(conn, tables, ids)
        due = ids if ctx.full else due_ids(ctx, hashes, stored)
        stored_reasons = read_reasons(conn, tables, stored.with_reasons(due))
    wrong = [e for i in due for e in errors.pop(i, [])]
    found = Evaluated(ids, due, hashes, _scores(batch, set(due)), wrong)
    result = ChunkResult(index, None, int(batch["rows"].sum()))
    return settle(ctx, result, found, stored, stored_reasons)


def execute(spark: SparkSession, spark_options: SparkOptions) -> Execute:
    """The Spark engine's part of `scoring.batch.rescore.rescore`: score, stage, then write."""

    def run_job(job: Job) -> int:
        run = job.run
        folder = spark_options.staging or tempfile.mkdtemp(prefix="leadscore-spark-")
        try:
            rows = scored(
                spark,
                job.cfg,
                job.scorer_dir,
                run.model_version,
                run.as_of,
                run.explain,
                spark_options,
                job.options.chunk_rows,
            )
            staged(rows, folder)
            ctx = run_context(run, job.scorer, explainer() if run.explain else None)
            return _write(ctx, job, folder, spark_options)
        finally:
            if spark_options.staging is None:
                shutil.rmtree(folder, ignore_errors=True)

    return run_job


def _write(ctx: Context, job: Job, folder: str, spark_options: SparkOptions) -> int:
    """The staged rows into the lead database, batch by batch, then the run's last
    transaction (rows without a lead, leads deleted from the CRM)."""
    engine, tables, holder, run, options = job.engine, job.tables, job.holder, job.run, job.options
    error_rows = _errors(folder, run)
    errors: dict[str, list[dict]] = {}
    for record in error_rows.to_dict("records"):
        errors.setdefault(record["lead_id"], []).append(record)
    orphans = errors.pop(None, [])
    import pyarrow.dataset as ds

    total = ds.dataset(folder, format="parquet").count_rows(filter=ds.field("kind") == "lead")
    bar = progress(total, job.stream, options.log_every)
    present, rows = [], 0
    try:
        for index, batch in enumerate(_batches(folder, options.chunk_rows)):
            result = settle_batch(ctx, engine, tables, batch, errors, index)
            write_chunk(engine, tables, run, holder, result)
            present.append(id_hashes(batch["lead_id"].to_numpy(dtype=object)))
            rows += result.rows
            bar.advance(len(batch))
    finally:
        bar.close()
    read = np.unique(np.concatenate([np.empty(0, np.uint64), *present]))
    left = list(errors)  # ids with errors not written yet: not due, or events without a lead
    unread = ~np.isin(_hashes_of(left), read) if left else np.empty(0, bool)
    orphans += [e for i, new in zip(left, unread.tolist(), strict=True) if new for e in errors[i]]
    last = ChunkResult(-1, None, 0, errors=orphans, counts={"errors": len(orphans)})
    gone = Gone()
    if spark_options.since is None:  # else only the leads changed since were read
        gone = _gone(engine, tables, read)
    write_last(engine, tables, run, holder, last, gone)
    return rows


def _hashes_of(ids: list[str]) -> np.ndarray:
    """Each id's 64-bit hash, in order (id_hashes' hash)."""
    return pd.util.hash_array(np.asarray(ids, dtype=object))


def _gone(engine: sa.Engine, tables: Tables, present: np.ndarray) -> Gone:
    """The leads of lead_scores and lead_score_errors that this run did not read."""
    scores, errors = tables.scores, tables.errors
    with engine.connect() as conn:
        return Gone(
            missing(
                conn, present, sa.select(scores.c.lead_id).where(scores.c.deleted_at.is_(None))
            ),
            missing(
                conn,
                present,
                sa.select(errors.c.lead_id).where(errors.c.lead_id.is_not(None)).distinct(),
            ),
        )


__all__ = ["SparkOptions", "Written", "execute", "scored", "write_output"]
