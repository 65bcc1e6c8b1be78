"""Real-time lead scoring: a BentoML service around the registered model.

    leadscore serve                        # imports lead-scoring@champion, starts on :3000
    bentoml serve scoring.service:LeadScoring
    bentoml build                          # a Bento with the model (bentofile.yaml)

POST /score takes one `lead` or a list of `leads` as the CRM or website sends them (the config's
fields, plus recent `events`) and answers, per lead: fit and intent scores, calibrated win
probability, expected revenue, stage, fit x intent grade, model version and reasons
(`scoring.reasons`). Features come from the same point-in-time code as the batch job
(`scoring.data` -> `scoring.features.feature_arrays`), on arrays: no per-request pandas.

Requests are scored through an adaptive micro-batcher: an idle service scores a request at once;
under load, the requests that arrive while a batch is being scored are scored together in the
next one (up to LEADSCORE_MAX_BATCH_SIZE leads), which is where the throughput comes from. A
request that waited longer than LEADSCORE_MAX_LATENCY_MS before its batch started gets a 503
(load shedding, only under overload).

The model is the BentoML model LEADSCORE_BENTO_MODEL (default `lead-scoring:latest`), imported
from the MLflow registry (`leadscore serve`, or `import_champion()`) or from a local export
(`leadscore serve --from models/lead-scoring-v3`). With LEADSCORE_API_TOKEN set, /score needs
`Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bentoml
import numpy as np
import yaml
from pydantic import BaseModel
from starlette.responses import JSONResponse

from scoring import schema
from scoring.config import Config, load_config
from scoring.data import event_arrays_from_records, lead_arrays_from_records
from scoring.features import feature_arrays
from scoring.model import LeadScorer
from scoring.reasons import explain as explain_leads
from scoring.reasons import scores_and_reasons

logger = logging.getLogger("leadscore.service")

MODEL_NAME = "lead-scoring"
MODEL_TAG = os.environ.get("LEADSCORE_BENTO_MODEL", f"{MODEL_NAME}:latest")
SCORER_DIR = ("mlflow_model", "artifacts", "scorer")
TOKEN_ENV = "LEADSCORE_API_TOKEN"
MAX_BATCH_SIZE = int(os.environ.get("LEADSCORE_MAX_BATCH_SIZE", "256"))  # leads per batch
MAX_LATENCY_MS = float(os.environ.get("LEADSCORE_MAX_LATENCY_MS", "2000"))
_REPO = Path(__file__).resolve().parents[1]
OPEN_PATHS = ("/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/docs")


# ---------------------------------------------------------------- model import


def import_model(model_uri: str, labels: dict[str, str] | None = None) -> bentoml.Model:
    """Import an MLflow model (`models:/lead-scoring@champion`, or a local export folder from
    `leadscore export`) into the BentoML model store as `lead-scoring`."""
    meta = _registry_meta(model_uri)
    tags = {"source": model_uri} | meta | (labels or {})
    if "version" in meta:  # the same registered version is imported once
        try:
            imported = bentoml.models.list(MODEL_NAME)
        except bentoml.exceptions.NotFound:
            imported = []
        for stored in imported:
            known = stored.info.labels
            if all(known.get(k) == v for k, v in meta.items()):
                return stored
    return bentoml.mlflow.import_model(MODEL_NAME, model_uri, labels=tags)


def import_champion() -> bentoml.Model:
    return import_model(f"models:/{MODEL_NAME}@champion")


def _registry_meta(model_uri: str) -> dict[str, str]:
    if model_uri.startswith("models:/"):
        import mlflow

        name, _, alias = model_uri.removeprefix("models:/").partition("@")
        client = mlflow.MlflowClient()
        version = (
            client.get_model_version_by_alias(name, alias)
            if alias
            else client.get_model_version(*name.split("/", 1))
        )
        return {"registered_model": version.name, "version": str(version.version)}
    meta = Path(model_uri) / "registered_model_meta"
    if meta.is_file():
        doc = yaml.safe_load(meta.read_text()) or {}
        return {"registered_model": str(doc["model_name"]), "version": str(doc["model_version"])}
    return {}


def _scorer_dir(stored: bentoml.Model) -> Path:
    return Path(stored.path).joinpath(*SCORER_DIR)


def _model_version(stored: bentoml.Model) -> str:
    labels = stored.info.labels
    if "version" in labels:
        return f"{labels.get('registered_model', MODEL_NAME)} v{labels['version']}"
    return str(stored.tag)


MODEL = bentoml.models.BentoModel(MODEL_TAG)


def _schema_config() -> Config:
    """The config the request model is generated from: the packaged model's own, or (with no
    model in the store yet, e.g. to read the docs) LEADSCORE_CONFIG / configs/demo.yaml."""
    stored = MODEL.stored
    if stored is not None:
        doc = json.loads((_scorer_dir(stored) / "scorer.json").read_text())
        return Config.model_validate(doc["config"])
    return load_config(os.environ.get("LEADSCORE_CONFIG", _REPO / "configs" / "demo.yaml"))


SCHEMA_CONFIG = _schema_config()
ScoreRequest = schema.request_model(SCHEMA_CONFIG)
Lead = ScoreRequest.model_fields["lead"].annotation.__args__[0]  # type: ignore[union-attr]


# ---------------------------------------------------------------- micro-batching


class Overloaded(Exception):
    """A request waited longer than the latency budget: answered 503."""


class RejectedLeads(ValueError):
    """Leads the validation refused (a client mistake): answered 422 with the fields."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{p['loc']}: {p['msg']}" for p in problems))
        self.problems = problems


@dataclass
class _Pending:
    job: Any
    size: int
    since: float
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Adaptive micro-batching for a CPU-bound batch function.

    Idle: a job is run at once (no batching window, so no added latency). Busy: jobs queue while
    the current batch runs and the next batch takes all of them (up to `max_batch_size` units),
    so the batch size follows the load. A job that waited more than `max_latency_ms` is failed
    with `Overloaded`. When a batch raises, its jobs are re-run one by one, so one bad request
    never fails the others.
    """

    def __init__(
        self,
        run: Callable[[list[Any]], list[Any]],
        max_batch_size: int = MAX_BATCH_SIZE,
        max_latency_ms: float = MAX_LATENCY_MS,
    ) -> None:
        self.run = run
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency_ms / 1000
        self.queue: deque[_Pending] = deque()
        self.draining = False
        self._task: asyncio.Task | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score-batch")
        self.batches = 0
        self.largest = 0

    async def submit(self, job: Any, size: int = 1) -> Any:
        loop = asyncio.get_running_loop()
        pending = _Pending(job, size, time.monotonic(), loop.create_future())
        self.queue.append(pending)
        if not self.draining:
            self.draining = True
            self._task = loop.create_task(self._drain())  # kept: tasks are weakly referenced
        return await pending.future

    def _next_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        size, now = 0, time.monotonic()
        while self.queue and (not batch or size + self.queue[0].size <= self.max_batch_size):
            pending = self.queue.popleft()
            if now - pending.since > self.max_latency:
                waited = (now - pending.since) * 1000
                pending.future.set_exception(Overloaded(f"waited {waited:.0f} ms"))
                continue
            batch.append(pending)
            size += pending.size
        return batch

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.queue:
                batch = self._next_batch()
                if len(batch) == 1 and batch[0].size <= 8:  # idle: score it now, no thread hop
                    outcomes = self._outcomes(batch)
                elif batch:  # busy: score in the worker thread, keep accepting requests
                    outcomes = await loop.run_in_executor(self.executor, self._outcomes, batch)
                else:
                    continue
                for pending, (ok, value) in zip(batch, outcomes, strict=True):
                    if pending.future.done():
                        continue
                    if ok:
                        pending.future.set_result(value)
                    else:
                        pending.future.set_exception(value)
                await asyncio.sleep(0)  # let the requests that arrived meanwhile queue up
        finally:
            self.draining = False

    def _outcomes(self, batch: list[_Pending]) -> list[tuple[bool, Any]]:
        """(True, result) or (False, exception) per job; a failed batch is re-run job by job."""
        self.batches += 1
        self.largest = max(self.largest, sum(p.size for p in batch))
        try:
            return [(True, r) for r in self.run([p.job for p in batch])]
        except Exception as exc:
            if len(batch) == 1:
                return [(False, exc)]
        return [self._outcomes([pending])[0] for pending in batch]


# ---------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Job:
    """One request: its leads (validated pydantic models), as_of and options."""

    leads: Sequence[BaseModel]
    as_of: datetime | None
    explain: bool
    top: int


def _utc_naive(stamp: datetime | None) -> np.datetime64:
    stamp = stamp or datetime.now(UTC)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(stamp, "us")


def _nan_to_none(value: float) -> float | None:
    return None if value != value else float(value)


def score_jobs(scorer: LeadScorer, version: str, jobs: Sequence[Job]) -> list[list[dict]]:
    """Score the leads of several requests in one pass; one list of scored leads per request.

    Leads get positional ids inside the batch, so the same CRM id may come twice (two webhooks
    for one lead) and every lead is scored on its own."""
    cfg = scorer.config
    leads = [lead for job in jobs for lead in job.leads]
    positions = [str(i) for i in range(len(leads))]
    records, events = [], []
    for pos, lead in zip(positions, leads, strict=True):
        records.append(schema.record(lead) | {cfg.leads.id: pos})
        if cfg.events is not None:
            spec = cfg.events
            events += [
                {spec.lead_id: pos, spec.type: e.type, spec.timestamp: e.timestamp}
                for e in lead.events  # type: ignore[attr-defined]
            ]
    arrays, problems, _ = lead_arrays_from_records(cfg, records)
    ev_arrays = None
    if cfg.events is not None:
        ev_arrays, ev_problems, ev_ids = event_arrays_from_records(cfg, events)
        _refuse(ev_problems.messages(), [int(ev_ids[i]) for i in range(len(ev_ids))], jobs)
    _refuse(problems.messages(), list(range(len(leads))), jobs)
    stamps = [_utc_naive(job.as_of) for job in jobs]
    as_of = np.array([s for job, s in zip(jobs, stamps, strict=True) for _ in job.leads])
    features = feature_arrays(cfg, arrays.inputs, arrays.ids, ev_arrays, as_of)
    wanted = np.array([job.explain for job in jobs for _ in job.leads], dtype=bool)
    top = max(job.top for job in jobs)
    reasons: list[dict | None] = [None] * len(leads)
    if wanted.all():  # the usual case: scores and reasons in one pass
        scores, found = scores_and_reasons(scorer, features, top)
        reasons = list(found)
    else:
        scores = scorer.score_arrays(features)
        if wanted.any():
            rows = np.flatnonzero(wanted)
            subset = {k: v[rows] for k, v in features.items()}
            sub_scores = {k: v[rows] for k, v in scores.items()}
            for row, why in zip(rows, explain_leads(scorer, subset, top, sub_scores), strict=True):
                reasons[row] = why
    out: list[list[dict]] = []
    i = 0
    for job, stamp in zip(jobs, stamps, strict=True):
        scored = []
        for lead in job.leads:
            why = reasons[i]
            if why is not None and job.top < top:
                why = why | {
                    k: why[k][: job.top] for k in ("positive", "negative", "fit", "intent")
                }
            scored.append(
                {
                    "lead_id": getattr(lead, lead.__id_field__),  # type: ignore[attr-defined]
                    "fit_score": _nan_to_none(scores["fit_score"][i]),
                    "intent_score": _nan_to_none(scores["intent_score"][i]),
                    "win_probability": float(scores["win_probability"][i]),
                    "expected_revenue": float(scores["expected_revenue"][i]),
                    "stage": scores["stage"][i],
                    "grade": scores["grade"][i],
                    "model_version": version,
                    "as_of": stamp.item(),
                    "reasons": why,
                }
            )
            i += 1
        out.append(scored)
    return out


def _refuse(messages: list[tuple[int, str, str]], lead_of_row: list[int], jobs: Sequence[Job]):
    """Raise RejectedLeads naming the request's lead index and field (the job is re-run alone
    by the batcher, so the index is the one the client sent)."""
    if not messages:
        return
    problems = []
    for row, fields, reason in messages:
        lead = lead_of_row[row]
        problems.append({"loc": ["leads", lead, fields], "msg": reason})
    raise RejectedLeads(problems)


# ---------------------------------------------------------------- auth


class BearerAuth:
    """ASGI middleware: with a token configured, every API route needs `Authorization: Bearer
    <token>` (401 otherwise); health, metrics and the OpenAPI document stay open."""

    def __init__(self, app: Any, token_env: str = TOKEN_ENV) -> None:
        self.app = app
        token = os.environ.get(token_env, "")
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if (
            self.expected is None
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] in OPEN_PATHS
        ):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "missing or wrong bearer token (Authorization: Bearer <token>)"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)


# ---------------------------------------------------------------- the service


@bentoml.service(
    name="lead-scoring",
    workers=1,
    traffic={"timeout": 30, "max_concurrency": 1024},
    http={"port": int(os.environ.get("LEADSCORE_PORT", "3000"))},
)
class LeadScoring:
    """Real-time lead scoring with reasons; see the module docstring."""

    model = MODEL

    def __init__(self) -> None:
        self.scorer: LeadScorer | None = None
        self.version = ""
        self.load_error: str | None = None
        self._ready = threading.Event()
        self.batcher = MicroBatcher(self._run_jobs)
        threading.Thread(target=self._load, name="load-model", daemon=True).start()

    def _load(self) -> None:
        try:
            stored = self.model
            scorer = LeadScorer.load(_scorer_dir(stored))
            _check_schema(scorer.config)
            version = _model_version(stored)
            example = Lead.model_validate(_example_lead(scorer.config))
            score_jobs(scorer, version, [Job([example], None, True, 3)])  # warm-up
            self.scorer, self.version = scorer, version
            self._ready.set()
            logger.info("model %s loaded from %s", version, stored.tag)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            logger.exception("model %s could not be loaded", MODEL_TAG)

    def wait_ready(self, timeout: float = 60.0) -> bool:
        return self._ready.wait(timeout)

    def __is_ready__(self) -> bool:
        return self._ready.is_set()

    def _run_jobs(self, jobs: list[Job]) -> list[list[dict]]:
        assert self.scorer is not None
        return score_jobs(self.scorer, self.version, jobs)

    @bentoml.api(route="/score", input_spec=ScoreRequest, output_spec=schema.ScoreResponse)
    async def score(
        self,
        lead: BaseModel | None = None,
        leads: list[BaseModel] | None = None,
        as_of: datetime | None = None,
        explain: bool = True,
        top: int = 3,
    ) -> schema.ScoreResponse | JSONResponse:
        """Score one `lead` or a list of `leads`: scores, stage, grade and reasons."""
        if not self._ready.is_set():
            detail = self.load_error or "the model is loading"
            return JSONResponse({"error": f"not ready: {detail}"}, 503, {"Retry-After": "5"})
        given = [lead] if lead is not None else list(leads or [])
        try:
            scored = await self.batcher.submit(Job(given, as_of, explain, top), len(given))
        except Overloaded as exc:
            return JSONResponse({"error": f"overloaded: {exc}"}, 503, {"Retry-After": "1"})
        except RejectedLeads as exc:
            if lead is not None:  # one lead: name it as the client sent it
                exc.problems = [p | {"loc": ["lead", p["loc"][2]]} for p in exc.problems]
            return JSONResponse({"error": "invalid leads", "detail": exc.problems}, 422)
        return schema.ScoreResponse.model_validate({"model": self.version, "scores": scored})


LeadScoring.add_asgi_middleware(BearerAuth)


def _check_schema(cfg: Config) -> None:
    """The request model was generated at import from SCHEMA_CONFIG: it must be this model's."""
    if schema.lead_model(cfg).model_json_schema() != Lead.model_json_schema():
        raise RuntimeError(
            "the model's config differs from the one the request schema was built from; "
            "restart the service so it reads the packaged model's config"
        )


def _example_lead(cfg: Config) -> dict[str, Any]:
    """A lead in the shape of the config, with every field missing but the id."""
    example: dict[str, Any] = {cfg.leads.id: "warm-up"}
    if cfg.events is not None:
        first = next(iter(cfg.events.types.values()))[0]
        example["events"] = [{"type": first, "timestamp": "2025-01-01T00:00:00Z"}]
    return example
