"""Real-time lead scoring: a BentoML service around the registered model.

    leadscore serve                        # imports lead-scoring@champion, starts on :3000
    bentoml serve scoring.serving.service:LeadScoring
    bentoml build                          # a Bento with the model (bentofile.yaml)

POST /score takes one `lead` or a list of `leads` as the CRM or website sends them (the config's
fields, plus recent `events`) and answers, per lead: fit and intent scores, calibrated win
probability, expected revenue, stage, fit x intent grade, model version and reasons
(`scoring.model.reasons`). Features come from the same point-in-time code as the batch job
(`scoring.data.load` -> `scoring.features.feature_arrays`), on arrays: no per-request pandas.

Requests are scored through an adaptive micro-batcher: an idle service scores a request at once;
under load, the requests that arrive while a batch is being scored are scored together in the
next one (up to LEADSCORE_MAX_BATCH_SIZE leads), which is where the throughput comes from. A
request that waited longer than LEADSCORE_MAX_LATENCY_MS before its batch started gets a 503
(load shedding, only under overload).

The model is the BentoML model LEADSCORE_BENTO_MODEL (default `lead-scoring:latest`, the demo
source's), imported from the MLflow registry (`leadscore serve [--source NAME]`, or
`import_champion(source)`) or from a local export (`leadscore serve --from
models/lead-scoring-v3`); each source's model is stored under its registered model's name
(`lead-scoring-maven-crm`). The request model is generated from that model's own config, unknown
fields forbidden: leads shaped for another source's model get a 400 naming the fields this one
does not know. With LEADSCORE_API_TOKEN set, /score needs `Authorization: Bearer <token>`.

/metrics has, beside BentoML's request metrics, the handoff SLA of the lead database
LEADSCORE_LEAD_DB under the served model's `sla:` (`leadscore_sla_clocks{rule, owner, team,
stage, state}`, `leadscore_first_touch_business_hours_bucket{le}`...; scoring/monitoring/
metrics.py), recomputed in a background thread every LEADSCORE_SLA_REFRESH_SECONDS and soon after
a /feedback write (scoring/serving/metrics.py); a lead database that cannot be read leaves the
last numbers and is logged, never failing /score or /metrics.

With LEADSCORE_CHALLENGER_MODEL (the source's challenger, which `leadscore serve` imports when the
registry has one), every scored batch is scored again by the challenger in a background thread,
off the request path, into lead_shadow_scores of LEADSCORE_LEAD_DB (scoring/serving/shadow.py):
a bounded queue that drops and counts when full, so /score is never slowed down or failed by it,
and its answer never holds the challenger's scores.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
from datetime import datetime
from typing import Any

import bentoml
from _bentoml_sdk.io_models import IOMixin
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse

from scoring.config import Config, load_config
from scoring.feedback.records import FeedbackRequest
from scoring.model.registry import MODEL_NAME
from scoring.model.scorer import LeadScorer
from scoring.serving import body, schema
from scoring.serving.auth import BearerAuth
from scoring.serving.batcher import MicroBatcher, Overloaded
from scoring.serving.body import RequestBody, arrived, prepared
from scoring.serving.feedback import FeedbackBody, FeedbackDesk, FeedbackResponse, answer
from scoring.serving.jobs import Job, Leads, RejectedLeads, prepare, score_jobs
from scoring.serving.metrics import SlaMonitor
from scoring.serving.openapi import OpenAPIDocument, document
from scoring.serving.parse import BodyParser
from scoring.serving.process import end_with_parent, is_bentoml_worker
from scoring.serving.report import ReportPage
from scoring.serving.shadow import ShadowScorer
from scoring.serving.store import model_version, scorer_dir, stored_config
from scoring.settings import settings

logger = logging.getLogger("leadscore.service")

if is_bentoml_worker():  # as early as possible: the supervisor may be killed at any time
    end_with_parent()
    # the event loop takes turns at the GIL with the score thread: every 1 ms, not Python's 5,
    # so /livez answers in milliseconds while it works (benchmarks/serve_load.py)
    sys.setswitchinterval(0.001)

MODEL_TAG = settings().bento_model or f"{MODEL_NAME}:latest"
MODEL = bentoml.models.BentoModel(MODEL_TAG)


def _schema_config() -> Config:
    """The config the request model is generated from: the packaged model's own, or (with no
    model in the store yet, e.g. to read the docs) LEADSCORE_CONFIG / configs/demo.yaml."""
    stored = MODEL.stored
    if stored is not None:
        return stored_config(stored)
    return load_config(settings().config)


MAX_CONCURRENCY = settings().max_concurrency  # requests in progress; BentoML: 503 beyond
SATURATED = int(MAX_CONCURRENCY * 0.9)  # /readyz says 503 from here: send traffic elsewhere
SCHEMA_CONFIG = _schema_config()
ScoreRequest = schema.request_model(SCHEMA_CONFIG)
Lead = ScoreRequest.model_fields["lead"].annotation.__args__[0]  # type: ignore[union-attr]
PARSER = BodyParser(SCHEMA_CONFIG)


class Prepared(BaseModel):
    """What BentoML hands `score` for a request: the job `RequestBody` made of its body."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    job: Job | Leads


class ScoreInput(IOMixin, ScoreRequest):  # type: ignore[valid-type,misc]
    """POST /score's body as BentoML's input spec (and its OpenAPI schema): `RequestBody` has read
    it and made it a job in a parse process (off BentoML's error path, which logs a traceback
    per invalid request)."""

    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> BaseModel:
        return Prepared.model_construct(job=prepared(request))


class PreparedFeedback(BaseModel):
    request: FeedbackRequest


class FeedbackInput(IOMixin, FeedbackRequest):
    """POST /feedback's body as BentoML's input spec: `RequestBody` has validated it."""

    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> BaseModel:
        return PreparedFeedback.model_construct(request=prepared(request))


@bentoml.service(
    name=MODEL_NAME,
    workers=1,
    traffic={"timeout": 30, "max_concurrency": MAX_CONCURRENCY},
    http={"port": settings().port},
)
class LeadScoring:
    """Real-time lead scoring with reasons; see the module docstring."""

    model = MODEL

    def __init__(self) -> None:
        logging.getLogger("leadscore").setLevel(logging.INFO)  # BentoML's root level: WARNING
        self.scorer: LeadScorer | None = None
        self.version = ""
        self.load_error: str | None = None
        self._ready = threading.Event()
        self.batcher = MicroBatcher(self._run_jobs)
        self.feedback_desk = FeedbackDesk(SCHEMA_CONFIG)
        self.sla_monitor = _sla_monitor(self.feedback_desk.cfg)
        self.shadow = ShadowScorer(settings().challenger_model, _lead_db())
        threading.Thread(target=self._load, name="load-model", daemon=True).start()
        self.sla_monitor.start()

    def _load(self) -> None:
        try:
            stored = self.model
            scorer = LeadScorer.load(scorer_dir(stored))
            _check_schema(scorer.config)
            version = model_version(stored)
            example = Lead.model_validate(_example_lead(scorer.config))
            score_jobs(scorer, version, [Leads([example])])  # warm-up
            PARSER.warm()
            self.scorer, self.version = scorer, version
            # the model and the libraries are long-lived: out of the collector's full passes,
            # which otherwise walk them while holding the GIL (stalls of 100s of ms under load)
            gc.freeze()
            self._ready.set()
            logger.info("model %s loaded from %s", version, stored.tag)
            self.shadow.start(scorer.config)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            logger.exception("model %s could not be loaded", MODEL_TAG)

    @bentoml.on_shutdown
    def _stop_threads(self) -> None:
        self.sla_monitor.stop()
        self.shadow.stop()

    def wait_ready(self, timeout: float = 60.0) -> bool:
        return self._ready.wait(timeout)

    async def __is_ready__(self) -> bool:  # async: BentoML runs a plain one in a thread
        return self._ready.is_set() and body.active < SATURATED

    def _run_jobs(self, jobs: list[Job | Leads]) -> list[list[dict]]:
        """Score a batch; its features then go to the challenger, if any (it only queues them)."""
        assert self.scorer is not None
        raw = [j for j in jobs if isinstance(j, Leads)]
        made = iter(prepare(self.scorer.config, raw) if raw else [])
        ready = [next(made) if isinstance(j, Leads) else j for j in jobs]
        scored = score_jobs(self.scorer, self.version, ready)
        self.shadow.offer(ready)
        return scored

    @bentoml.api(route="/score", input_spec=ScoreInput, output_spec=schema.ScoreResponse)
    async def score(
        self,
        lead: BaseModel | None = None,
        leads: list[BaseModel] | None = None,
        as_of: datetime | None = None,
        explain: bool = True,
        top: int = 3,
        job: Job | Leads | None = None,
    ) -> schema.ScoreResponse | JSONResponse:
        """Score one `lead` or a list of `leads`: scores, stage, grade and reasons. Over HTTP they
        come as the `job` `RequestBody` made of the body."""
        if not self._ready.is_set():
            detail = self.load_error or "the model is loading"
            return JSONResponse({"error": f"not ready: {detail}"}, 503, {"Retry-After": "5"})
        try:
            if job is None:
                given = [lead] if lead is not None else list(leads or [])
                job = Leads(given, as_of, explain, top, lead is not None)
            scored = await self.batcher.submit(job, len(job), arrived.get())
        except Overloaded as exc:
            return JSONResponse({"error": f"overloaded: {exc}"}, 503, {"Retry-After": "1"})
        except RejectedLeads as exc:
            return JSONResponse({"error": "invalid leads", "detail": exc.problems}, 422)
        return schema.ScoreResponse.model_validate({"model": self.version, "scores": scored})

    @bentoml.api(route="/feedback", input_spec=FeedbackInput, output_spec=FeedbackResponse)
    async def feedback(
        self, feedback: list[BaseModel] | None = None, request: FeedbackRequest | None = None
    ) -> FeedbackResponse | JSONResponse:
        """Store SDR and AE decisions and contact attempts about leads (docs/feedback.md): all
        items or none; sending them again is a no-op."""
        if request is None:
            request = FeedbackRequest.model_validate({"feedback": feedback or []})
        status, body = await asyncio.to_thread(answer, self.feedback_desk, request)
        if status != 200:
            return JSONResponse(body, status)
        if body["stored"]:
            self.sla_monitor.request()  # the SLA metrics follow soon, not in this request
        return FeedbackResponse.model_validate(body)


LeadScoring.add_asgi_middleware(BearerAuth)  # the first added is the outer one
LeadScoring.add_asgi_middleware(RequestBody, routes={"/score": PARSER, "/feedback": FeedbackBody()})
LeadScoring.add_asgi_middleware(OpenAPIDocument, build=lambda: _document())
LeadScoring.add_asgi_middleware(ReportPage, model=MODEL)


def _document() -> dict[str, Any]:
    spec = LeadScoring.openapi_spec.asdict()
    routes = {"/score": ScoreRequest, "/feedback": FeedbackRequest}
    return document(spec, routes, secured=bool(settings().token()))


def _lead_db() -> str | None:
    """LEADSCORE_LEAD_DB, if set."""
    given = settings().lead_db
    return given.get_secret_value() if given else None


def _sla_monitor(cfg: Config) -> SlaMonitor:
    """The SLA metrics of /metrics (scoring/serving/metrics.py): the served model's `sla:` (the
    config the feedback desk checks with) on the lead database LEADSCORE_LEAD_DB."""
    return SlaMonitor(cfg, _lead_db(), settings().sla_refresh_seconds)


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
