"""One bucket of leads with their events, scored on a Spark executor by the single-machine
engine's own code: validation, point-in-time features, scores, the re-check time and reasons
(`scoring.batch.chunk.evaluate`), and the input hash (`row_hashes`, `stats_of_events`).

Values reach validation as the database driver gives them to the other engine: text as str,
integers as int (Spark sends them as text here: pandas would make a column with gaps float),
reals as float, times as timestamps, missing as None. A bucket comes back as rows of two kinds:
`lead`, one per lead id read (its input hash, its scores when it scored) and `error`, one per
problem, as lead_score_errors holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.batch.chunk import Context, evaluate
from scoring.batch.read import row_hashes, stats_of_events
from scoring.batch.rescore import explainer, validating
from scoring.batch.spark.source import EVENT_NAMES, INTEGER, REAL
from scoring.config import Config
from scoring.data.arrays import objects
from scoring.data.parse import id_text
from scoring.model.scorer import LeadScorer

SCORES = ("fit_score", "intent_score", "win_probability", "expected_revenue")
SCHEMA = (
    "kind string, lead_id string, rows long, input_hash string, fit_score double, "
    "intent_score double, win_probability double, expected_revenue double, stage string, "
    "grade string, next_check_at timestamp_ntz, reasons string, step string, fields string, "
    "reason string, row string"
)
NAMES = tuple(part.split()[0] for part in SCHEMA.split(", "))


@dataclass(frozen=True)
class GroupSpec:
    """What every bucket of a job shares (pickled to the executors)."""

    cfg: Config  # the champion's features, the config's validation (`compatible_config`)
    scorer: str  # a folder, or the name it was shipped under (SparkContext.addFile)
    version: str
    as_of: datetime  # naive UTC
    explain: bool
    columns: tuple[str, ...]  # lead columns, in `lead_query`'s order
    used: tuple[int, ...]  # positions of the columns validation reads (the input hash)
    split: frozenset[str] = frozenset()  # lead columns in three parts (SQLite)
    event_split: frozenset[str] = frozenset()
    integral: frozenset[str] = frozenset()  # lead columns of integers, sent as text
    event_integral: frozenset[str] = frozenset()


_CONTEXTS: dict[tuple, Context] = {}  # per Python worker: Spark reuses them across tasks


def _folder(name: str) -> Path:
    if Path(name).is_dir():
        return Path(name)
    from pyspark import SparkFiles

    return Path(SparkFiles.get(name))


def context(spec: GroupSpec) -> Context:
    """The scoring context of `spec`, loaded once per Python worker."""
    key = (spec.scorer, spec.version, spec.as_of, spec.explain)
    if key not in _CONTEXTS:
        scorer = validating(LeadScorer.load(_folder(spec.scorer)), spec.cfg)
        _CONTEXTS[key] = Context(
            scorer=scorer,
            version=spec.version,
            run_id=0,
            as_of=spec.as_of,
            full=True,
            explainer=explainer() if spec.explain else None,
        )
    return _CONTEXTS[key]


def _plain(values: pd.Series, integral: bool) -> np.ndarray:
    """A column as the objects a DBAPI driver returns, None where missing."""
    if integral:
        return objects((None if pd.isna(v) else int(v) for v in values), len(values))
    out = values.to_numpy(dtype=object, copy=True)
    out[np.asarray(pd.isna(out), dtype=bool)] = None
    return out


def column_values(frame: pd.DataFrame, name: str, split: frozenset, integral: frozenset):
    """Column `name` of a bucket's frame as driver values; a SQLite column read in three parts
    put back together (exactly one part of each value is set)."""
    if name not in split:
        return _plain(frame[name], name in integral)
    out = _plain(frame[name], False)
    for part, whole in ((INTEGER, True), (REAL, False)):
        values = _plain(frame[name + part], whole)
        gap = np.asarray([v is None for v in out], dtype=bool)
        out[gap] = values[gap]
    return out


def _events(spec: GroupSpec, events: pd.DataFrame) -> dict[str, np.ndarray] | None:
    if spec.cfg.events is None:
        return None
    return {n: column_values(events, n, spec.event_split, spec.event_integral) for n in EVENT_NAMES}


def score_bucket(spec: GroupSpec, leads: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The `lead` and `error` rows of one bucket (SCHEMA)."""
    ctx = context(spec)
    arrays = [column_values(leads, c, spec.split, spec.integral) for c in spec.columns]
    rows = list(zip(*arrays, strict=True)) if arrays and len(leads) else []
    id_at = spec.columns.index(spec.cfg.leads.id)
    keys = [id_text(r[id_at]) for r in rows]
    order = sorted(range(len(rows)), key=lambda i: keys[i] or "")
    rows, keys = [rows[i] for i in order], [keys[i] for i in order]
    raw_events = _events(spec, events)
    scores, errors, checked = evaluate(ctx, spec.columns, rows, raw_events)
    stats = {}
    if checked is not None and raw_events is not None:
        stats = stats_of_events(
            checked.events, checked.row_ids, raw_events["occurred_at"], ctx.as_of
        )
    hashes = row_hashes(spec.used, rows, keys, stats)
    found = pd.concat([_lead_rows(keys, hashes, scores), _error_rows(errors)], ignore_index=True)
    return typed(found)


def _lead_rows(
    keys: list[str | None], hashes: dict[str, str], scores: dict[str, np.ndarray] | None
) -> pd.DataFrame:
    read = pd.Series([k for k in keys if k is not None], dtype=object).value_counts(sort=False)
    frame = pd.DataFrame(
        {"kind": "lead", "lead_id": read.index.astype(object), "rows": read.to_numpy(np.int64)}
    )
    frame["input_hash"] = frame["lead_id"].map(hashes)
    if scores is not None:
        found = pd.DataFrame({c: scores[c] for c in (*SCORES, "stage", "grade", "reasons")})
        found["next_check_at"] = scores["next_check_at"]
        found.index = pd.Index(scores["lead_id"], dtype=object)
        frame = frame.join(found, on="lead_id")
    return frame.reindex(columns=list(NAMES))


def _error_rows(errors: list[dict]) -> pd.DataFrame:
    wanted = ("lead_id", "step", "fields", "reason", "row")
    frame = pd.DataFrame({c: [e[c] for e in errors] for c in wanted}, dtype=object)
    frame["kind"] = "error"
    return frame.reindex(columns=list(NAMES))


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` in SCHEMA's types, for Arrow (empty object columns would not convert)."""
    out = frame.copy()
    for name in NAMES:
        if name == "rows":
            out[name] = out[name].astype("Int64")
        elif name in SCORES:
            out[name] = pd.to_numeric(out[name]).astype(float)
        elif name == "next_check_at":
            out[name] = pd.to_datetime(out[name]).astype("datetime64[us]")
        else:
            column = out[name].astype(object)
            out[name] = column.where(column.notna(), None)
    return out
