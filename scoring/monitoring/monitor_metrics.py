"""The latest `leadscore monitor` verdict of each source as Prometheus gauges (the service's
/metrics sets them from lead_monitor_runs: `scoring.serving.metrics`).

- `leadscore_monitor_breach{source, check}`: 1 when the check breached its `monitor:` limit,
  0 when it passed; no sample while it was skipped (too few leads).
- `leadscore_monitor_value{source, check}`: the check's figure (ECE, ROC AUC, PSI, load ratio).
- `leadscore_monitor_retrain_recommended{source}`: 1 when the verdict is retrain_recommended.
- `leadscore_monitor_checked_timestamp_seconds{source}`: the `as_of` the verdict is for.
"""

from __future__ import annotations

import pandas as pd

from scoring.monitoring.metrics import Metric, Sample

BREACH = "leadscore_monitor_breach"
VALUE = "leadscore_monitor_value"
RETRAIN = "leadscore_monitor_retrain_recommended"
CHECKED = "leadscore_monitor_checked_timestamp_seconds"

MONITOR_METRICS: tuple[Metric, ...] = (
    Metric(
        BREACH,
        "1: the latest monitor run breached the check's limit; 0: it passed",
        ("source", "check"),
    ),
    Metric(VALUE, "The check's figure in the latest monitor run", ("source", "check")),
    Metric(
        RETRAIN, "1: the latest monitor run recommends retraining the source's model", ("source",)
    ),
    Metric(CHECKED, "Unix time the latest monitor run judged the model as of", ("source",)),
)


def monitor_samples(results: list[dict]) -> list[Sample]:
    """The gauges' values for the latest result of each source."""
    out: list[Sample] = []
    for result in results:
        source = str(result["source"])
        for check in result["checks"]:
            if check["status"] == "skipped":
                continue
            labels = (source, str(check["check"]))
            out.append(Sample(BREACH, labels, float(check["status"] == "breach")))
            if check["value"] is not None:
                out.append(Sample(VALUE, labels, float(check["value"])))
        out.append(Sample(RETRAIN, (source,), float(result["verdict"] == "retrain_recommended")))
        seconds = pd.Timestamp(result["as_of"]).timestamp()
        out.append(Sample(CHECKED, (source,), seconds))
    return out
