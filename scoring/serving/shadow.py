"""Real-time shadow scoring: the source's challenger scores the leads of every /score request,
off the request path, into lead_shadow_scores (scoring/model/shadow.py) with origin 'realtime'.

The service hands each scored batch's jobs (their features, computed once for the champion) to
`ShadowScorer.offer`, which only puts them on a bounded queue: when it is full they are dropped
and counted, so /score never waits for, slows down for or fails because of the challenger. One
background thread loads the challenger (LEADSCORE_CHALLENGER_MODEL, a model in the BentoML
store) once the champion is ready, then takes what is queued, scores it and upserts the rows
into the lead database LEADSCORE_LEAD_DB; without it the scores are only counted. The answer
never holds the challenger's scores.

The challenger scores the champion's features, so it must be of the served source and compute
its features the same way (same feature and event settings: a retrain, new cut-offs); one that
does not is logged and its leads counted as dropped (`leadscore rescore` shadows it in batch,
where each model computes its own features).

Counters (in /metrics): `leadscore_shadow_scored_total` (leads the challenger scored) and
`leadscore_shadow_dropped_total{reason}` (leads it did not score or store: `queue_full`,
`unavailable` (no challenger loaded), `failed` (scoring raised), `not_stored` (the write
failed)). They are made on first use, in the BentoML worker (see scoring/serving/metrics.py).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
import sqlalchemy as sa

from scoring.config import Config
from scoring.config.credentials import hide_url
from scoring.data.database import connect
from scoring.model.scorer import LeadScorer
from scoring.model.shadow import ROUNDING, SHADOW, create, define, upsert
from scoring.serving.jobs import Job

logger = logging.getLogger("leadscore.service")
ORIGIN = "realtime"
QUEUE_BATCHES = 64  # scored batches waiting for the challenger (each up to 256 leads)
MOST_LEADS = 1024  # leads the challenger scores in one pass
REASONS = ("queue_full", "unavailable", "failed", "not_stored")
EVENT_PLACES = {"table", "lead_id", "type", "timestamp", "ready"}  # where, not how


@cache
def counters() -> dict[str, Any]:
    """The Prometheus counters (made in this process on first use)."""
    import prometheus_client  # deferred: BentoML sets the multiprocess folder first

    return {
        "scored": prometheus_client.Counter(
            "leadscore_shadow_scored", "Leads the challenger scored in shadow after /score"
        ),
        "dropped": prometheus_client.Counter(
            "leadscore_shadow_dropped",
            "Leads the challenger did not score or store in shadow, by reason",
            ["reason"],
        ),
    }


def same_features(champion: Config, challenger: Config) -> bool:
    """Whether the challenger computes its features as the champion does (settings that only
    validate rows, `min`, aside), so it can score the champion's features."""

    def recipe(cfg: Config) -> tuple[dict, dict | None]:
        each = {"__all__": {"min"}}
        features = cfg.features.model_dump(exclude={"fit": each, "intent": each})
        events = None if cfg.events is None else cfg.events.model_dump(exclude=EVENT_PLACES)
        return features, events

    return recipe(champion) == recipe(challenger)


class ShadowScorer:
    """The challenger `tag` scoring in shadow into `url` (None: counted, not stored)."""

    def __init__(self, tag: str | None, url: str | None, queue_size: int = QUEUE_BATCHES) -> None:
        self.tag, self.url = tag, url
        self.scorer: LeadScorer | None = None
        self.version = ""
        self.problem: str | None = None  # why the challenger does not score
        self.scored = self.stored = 0
        self._queue: queue.Queue[list[Job]] = queue.Queue(queue_size)
        self._stop = threading.Event()
        self._engine: sa.Engine | None = None
        self._table = define()
        self._logged: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.tag is not None and self.problem is None

    def start(self, champion: Config) -> None:
        """Load the challenger and score what is queued, in a background thread."""
        if self.tag is None:
            logger.info("shadow scoring off: no challenger (LEADSCORE_CHALLENGER_MODEL)")
            return
        counters()
        threading.Thread(target=self._run, args=(champion,), name="shadow", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def offer(self, jobs: Sequence[Job]) -> None:
        """Queue a scored batch's jobs for the challenger; returns at once (full: dropped)."""
        if self.tag is None:
            return
        leads = sum(len(job) for job in jobs)
        if not self.enabled:
            self._drop("unavailable", leads)
            return
        try:
            self._queue.put_nowait(list(jobs))
        except queue.Full:
            self._drop("queue_full", leads)

    def _drop(self, reason: str, leads: int) -> None:
        counters()["dropped"].labels(reason).inc(leads)

    def _run(self, champion: Config) -> None:
        try:
            self._load(champion)
        except Exception as exc:
            self.problem = f"{type(exc).__name__}: {exc}"
            logger.warning("shadow scoring off: challenger %s: %s", self.tag, self.problem)
        while not self._stop.is_set():
            try:
                jobs = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            while sum(len(j) for j in jobs) < MOST_LEADS:
                try:
                    jobs += self._queue.get_nowait()
                except queue.Empty:
                    break
            self.process(jobs)

    def _load(self, champion: Config) -> None:
        import bentoml

        from scoring.serving.store import scorer_dir

        stored = bentoml.models.get(self.tag)
        scorer = LeadScorer.load(scorer_dir(stored))
        if scorer.config.name != champion.name:
            raise ValueError(
                f"trained on source {scorer.config.name!r}, the service on {champion.name!r}"
            )
        if not same_features(champion, scorer.config):
            raise ValueError(
                "it computes features differently from the champion; `leadscore rescore` "
                "shadows it in batch"
            )
        self.version = stored.info.labels.get("version") or str(stored.tag)
        self.scorer = scorer
        logger.info("shadow scoring with challenger %s (version %s)", stored.tag, self.version)

    def process(self, jobs: list[Job]) -> None:
        """Score `jobs` with the challenger and store the rows; failures are counted, logged
        once per kind, never raised."""
        leads = sum(len(job) for job in jobs)
        if self.scorer is None:
            self._drop("unavailable", leads)
            return
        try:
            rows = self.rows(jobs)
        except Exception as exc:
            self._drop("failed", leads)
            self._log_once("scoring", exc)
            return
        self.scored += leads
        counters()["scored"].inc(leads)
        if self.url:
            self._store(rows, leads)

    def rows(self, jobs: list[Job]) -> dict[str, list]:
        """The challenger's lead_shadow_scores rows of `jobs`, by column."""
        assert self.scorer is not None
        features = {k: np.concatenate([job.features[k] for job in jobs]) for k in jobs[0].features}
        scores = self.scorer.score_arrays(features)
        n = len(scores["stage"])
        rounded = {
            c: [None if v != v else v for v in np.round(np.asarray(scores[c], float), d).tolist()]
            for c, d in ROUNDING.items()
        }
        now = datetime.now(UTC).replace(tzinfo=None)
        return {
            "lead_id": [str(i) for job in jobs for i in job.lead_ids],
            "model_version": [self.version] * n,
            "origin": [ORIGIN] * n,
            "scored_at": [now] * n,
            "as_of": [job.as_of for job in jobs for _ in job.lead_ids],
            **rounded,
            "stage": list(scores["stage"]),
            "grade": [g or None for g in scores["grade"]],
            "run_id": [None] * n,
        }

    def _store(self, rows: dict[str, list], leads: int) -> None:
        try:
            if self._engine is None:
                assert self.url is not None
                engine = connect(self.url)
                create(engine)
                self._engine = engine
            with self._engine.begin() as conn:
                upsert(conn, self._table, rows)
        except Exception as exc:
            self._drop("not_stored", leads)
            self._log_once(f"writing {SHADOW} in {hide_url(self.url or '')}", exc)
            return
        self.stored += leads
        if self._logged:
            logger.info("shadow scoring: %s is written again", SHADOW)
            self._logged.clear()

    def _log_once(self, what: str, exc: Exception) -> None:
        kind = f"{what}: {type(exc).__name__}"
        if kind not in self._logged:
            self._logged.add(kind)
            first = str(exc).splitlines()[0] if str(exc) else ""
            first = self._scrubbed(first)
            logger.warning("shadow scoring: %s: %s (logged once until it works again)", kind, first)

    def _scrubbed(self, text: str) -> str:
        """`text` without the lead database's password, should a driver's message quote it."""
        try:
            password = sa.engine.make_url(self.url).password if self.url else None
        except (sa.exc.ArgumentError, ValueError):
            return "(message not shown)"
        return text.replace(str(password), "***") if password else text
