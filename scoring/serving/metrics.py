"""The SLA and monitoring metrics of the service's /metrics. Each check also sets the gauges of
each source's latest `leadscore monitor` verdict, read from lead_monitor_runs
(`scoring.monitoring.monitor_metrics`), with or without SLA rules.

The SLA metrics: the check of `scoring.monitoring.metrics` (series,
labels and why the first-touch histogram is a set of gauges: that module's docstring), rerun in
a background thread on the lead database LEADSCORE_LEAD_DB with the served model's `sla:`.

A check runs when the service starts, every LEADSCORE_SLA_REFRESH_SECONDS (clocks move with
time; `leadscore rescore` copies the CRM's activity into the database), and soon after a
/feedback write stored something: `request()` only wakes the thread, the request never waits.
Two checks are at least ten times the last one's duration apart, so the SLA work takes at most a
tenth of the worker's time however much feedback arrives. A check that fails keeps the last
numbers (their `leadscore_sla_checked_timestamp_seconds` tells how old they are) and is logged
once per kind of error until a check succeeds again, the database URL with its password hidden;
/score and /metrics never see it.

BentoML serves /metrics from Prometheus' multiprocess files: `prometheus_client` must be imported
in the worker after BentoML has set PROMETHEUS_MULTIPROC_DIR, so the gauges are made on first use
(and once per process: the registry refuses a name twice). Each gauge keeps the most recent
value of a live worker (`livemostrecent`).
"""

from __future__ import annotations

import logging
import threading
import time
from functools import cache
from typing import Any

import sqlalchemy as sa

from scoring.config import Config
from scoring.config.credentials import hide_url
from scoring.data.database import connect
from scoring.monitoring.metrics import METRICS, Sample, check_sla, samples
from scoring.monitoring.monitor_metrics import MONITOR_METRICS, monitor_samples
from scoring.monitoring.runs import latest
from scoring.monitoring.sla import checked_rules

logger = logging.getLogger("leadscore.service")
PACE = 10  # checks start at least PACE x the last one's duration apart
MIN_GAP = 1.0  # seconds between two checks, however fast


@cache
def gauges() -> dict[str, Any]:
    """The Prometheus gauges of `METRICS` (made in this process on first use)."""
    import prometheus_client  # deferred: see the module docstring

    return {
        m.name: prometheus_client.Gauge(
            m.name, m.documentation, m.labels, multiprocess_mode="livemostrecent"
        )
        for m in (*METRICS, *MONITOR_METRICS)
    }


def publish(values: list[Sample]) -> None:
    """Set the gauges to one check's values."""
    found = gauges()
    for sample in values:
        gauge = found[sample.name]
        (gauge.labels(*sample.labels) if sample.labels else gauge).set(sample.value)


class SlaMonitor:
    """Keeps the SLA gauges (with `cfg`'s `sla:`) and the latest monitor verdicts' gauges up to
    date from `url` (None: off)."""

    def __init__(self, cfg: Config, url: str | None, every: float) -> None:
        self.cfg, self.url, self.every = cfg, url, every
        self.enabled = bool(url) and every > 0
        self.checks = 0  # successful ones
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._engine: sa.Engine | None = None
        self._logged: set[str] = set()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.enabled:
            why = "LEADSCORE_LEAD_DB is not set" if not self.url else "switched off"
            logger.info("SLA and monitor metrics off: %s", why)
            return
        if not checked_rules(self.cfg.sla):
            logger.info("SLA metrics off: the model's config checks no SLA rule")
        self._thread = threading.Thread(target=self._run, name="sla-metrics", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a check soon (after a /feedback write); returns at once."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        took = 0.0
        while not self._stop.is_set():
            began = time.monotonic()
            took = self.check() or took
            gap = max(MIN_GAP, PACE * took)
            self._wake.wait(max(self.every, gap))  # a request ends the wait early...
            rest = gap - (time.monotonic() - began)
            if rest > 0 and not self._stop.is_set():
                self._stop.wait(rest)  # ...but not before the gap
            self._wake.clear()

    def check(self) -> float | None:
        """Check the clocks now and publish them: the seconds it took, None when it failed."""
        began = time.perf_counter()
        try:
            if self._engine is None:
                assert self.url is not None
                self._engine = connect(self.url)
            values = monitor_samples(latest(self._engine))
            if checked_rules(self.cfg.sla):
                values += samples(check_sla(self.cfg, self._engine))
            publish(values)
        except Exception as exc:
            self._failed(exc)
            return None
        took = time.perf_counter() - began
        if self._logged:
            logger.info("SLA metrics: the lead database is readable again")
            self._logged.clear()
        self.checks += 1
        logger.debug("SLA metrics checked in %.2f s", took)
        return took

    def _failed(self, exc: Exception) -> None:
        kind = type(exc).__name__
        if kind in self._logged:
            return
        self._logged.add(kind)
        assert self.url is not None
        logger.warning(
            "SLA metrics not refreshed: %s reading %s: %s (logged once until a check succeeds)",
            kind,
            hide_url(self.url),
            self._scrubbed(str(exc).splitlines()[0] if str(exc) else ""),
        )

    def _scrubbed(self, text: str) -> str:
        """`text` without the URL's password, should a driver's message quote it."""
        try:
            password = sa.engine.make_url(self.url or "").password
        except (sa.exc.ArgumentError, ValueError):
            return "(message not shown)"
        return text.replace(str(password), "***") if password else text
