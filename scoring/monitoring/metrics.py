"""The SLA check as numbers: what `leadscore sla` prints at its end, what every rescoring run
prints, and what the service exports on /metrics (Prometheus). Pure: the Prometheus objects
are the service's (`scoring.serving.metrics`), which sets one gauge sample per `Sample` here.

Series (Prometheus naming: `leadscore_` prefix, base units, `_ratio` for shares):

- `leadscore_sla_clocks{rule, owner, team, stage, state}`: the number of clocks of each checked
  rule in each state (met, breached, open, overdue), as `summary` counts them: all of the lead
  database's clocks, as of the check. Breach counts are `state="breached"` (closed late) and
  `state="overdue"` (open breaches, the ones to alert on).
- `leadscore_sla_breach_ratio{rule, owner, team, stage}`: the share of the stopped or overdue
  clocks that were late (`summary`'s breach_rate); NaN while a rule has none.
- `leadscore_first_touch_business_hours_bucket{le}`, `_count`, `_sum`: business hours from
  handoff to first touch of the leads first touched within the last `sla.recent_days`.
- `leadscore_sla_checked_timestamp_seconds`: when the numbers were computed (Unix time), to
  alert on a check that stopped refreshing.

The first-touch histogram has a histogram's series and `le` labels, so `histogram_quantile()`
reads it, but each refresh recomputes the whole recent window from the database: it is a
snapshot, not a counter that only grows, so it is exported as gauges (one per bucket, plus
count and sum) and is read as is, without `rate()`. A Prometheus histogram would count each
touch once, as it happens, which a service that reads the database every minute cannot do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config
from scoring.monitoring.sla import (
    FIRST_TOUCH_BUCKETS,
    OWNER_FIELDS,
    STATES,
    Histogram,
    Instant,
    as_instant,
    checked_rules,
    first_touch_hours,
    histogram,
    sla_clocks,
    summary,
)

CLOCKS = "leadscore_sla_clocks"
BREACH_RATIO = "leadscore_sla_breach_ratio"
FIRST_TOUCH = "leadscore_first_touch_business_hours"
CHECKED = "leadscore_sla_checked_timestamp_seconds"
RULE_LABELS = ("rule", *OWNER_FIELDS)  # rule, owner, team, stage


@dataclass(frozen=True)
class Metric:
    """A gauge's name, help text and label names."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()


METRICS: tuple[Metric, ...] = (
    Metric(
        CLOCKS,
        "SLA clocks of the lead database by rule, owner and state (met, breached: closed late, "
        "open, overdue: open breach), as of the last check",
        (*RULE_LABELS, "state"),
    ),
    Metric(
        BREACH_RATIO,
        "Share of the stopped or overdue SLA clocks that were late, by rule",
        RULE_LABELS,
    ),
    Metric(
        f"{FIRST_TOUCH}_bucket",
        "Leads first touched within the recent window (sla.recent_days) in at most `le` "
        "business hours after the handoff (cumulative; a snapshot of the window, not a counter)",
        ("le",),
    ),
    Metric(
        f"{FIRST_TOUCH}_count",
        "Leads first touched within the recent window (sla.recent_days)",
    ),
    Metric(
        f"{FIRST_TOUCH}_sum",
        "Business hours from handoff to first touch, summed over the recent window's leads",
    ),
    Metric(CHECKED, "Unix time the SLA metrics were computed for"),
)


@dataclass(frozen=True)
class SlaCheck:
    """One SLA check: the clocks' `summary` per checked rule, and the first-touch histogram of
    the leads first touched within `recent_days` before `as_of`."""

    as_of: np.datetime64  # naive UTC
    totals: pd.DataFrame
    first_touch: Histogram
    recent_days: float


def check_sla(cfg: Config, engine: sa.Engine, now: Instant = None) -> SlaCheck:
    """The clocks of the config's `sla:` in the lead database, as of `now` (default: now)."""
    at = as_instant(now)
    clocks = sla_clocks(cfg, engine, at)
    totals = summary(clocks, checked_rules(cfg.sla))
    return SlaCheck(
        at, totals, recent_first_touch(clocks, at, cfg.sla.recent_days), cfg.sla.recent_days
    )


def recent_first_touch(clocks: pd.DataFrame, now: Instant, recent_days: float) -> Histogram:
    """The first-touch histogram (`FIRST_TOUCH_BUCKETS`) of the leads touched in the window."""
    since = as_instant(now) - np.timedelta64(round(recent_days * 86_400_000_000), "us")
    recent = clocks[clocks["met_at"] >= since]
    return histogram(first_touch_hours(recent), FIRST_TOUCH_BUCKETS)


def summary_lines(totals: pd.DataFrame) -> list[str]:
    """A line per rule: its owner and stage, its clocks in each state and its breach rate (the
    end of `leadscore sla`, and of every rescoring run)."""
    lines = []
    for row in totals.itertuples(index=False):
        rate = "" if np.isnan(row.breach_rate) else f" ({row.breach_rate:.0%} late)"
        who = f"{owner_text(row.owner, row.team)}, {row.stage}"
        lines.append(
            f"{row.rule} ({who}): {row.clocks:,} clocks: {row.met:,} met, "
            f"{row.breached:,} breached, {row.open:,} open, {row.overdue:,} overdue{rate}"
        )
    return lines


def owner_text(owner: str, team: str) -> str:
    """marketing, sales/sdr, sales/ae."""
    return owner if owner == team else f"{owner}/{team}"


@dataclass(frozen=True)
class Sample:
    """One gauge value: the metric's name, its label values (in the metric's label order)."""

    name: str
    labels: tuple[str, ...]
    value: float


def le_text(bound: float) -> str:
    """An upper bound as Prometheus writes `le` (Go's float format: 0.25, 1.0, +Inf)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def samples(check: SlaCheck) -> list[Sample]:
    """The values of `METRICS` for one check."""
    out: list[Sample] = []
    for row in check.totals.itertuples(index=False):
        rule = (str(row.rule), *(str(getattr(row, field)) for field in OWNER_FIELDS))
        out += [Sample(CLOCKS, (*rule, state), float(getattr(row, state))) for state in STATES]
        out.append(Sample(BREACH_RATIO, rule, float(row.breach_rate)))  # NaN: none decided yet
    hist = check.first_touch
    out += [
        Sample(f"{FIRST_TOUCH}_bucket", (le_text(bound),), float(count))
        for bound, count in zip(hist.bounds, hist.counts, strict=True)
    ]
    out.append(Sample(f"{FIRST_TOUCH}_count", (), float(hist.count)))
    out.append(Sample(f"{FIRST_TOUCH}_sum", (), hist.total))
    seconds = (check.as_of - np.datetime64(0, "us")) / np.timedelta64(1, "s")
    out.append(Sample(CHECKED, (), float(seconds)))
    return out
