"""How fast sales really calls, from its feedback (the lead database's lead_feedback table),
for the threshold study.

- SDR response: from a lead's handoff (its MQL time, `scoring.monitoring.handoffs`) to its
  first touch, the earliest contact attempt or SDR decision (sdr_accepted, sdr_rejected) at or
  after it, in clock hours (the replay counts clock hours).
- AE response: from a lead's SQL time (the funnel's `sql` column) to the first contact attempt
  or disqualification at or after it, of the leads handed straight to an AE (no SDR touch and
  no acceptance before their SQL time). A lead an SDR worked first was first called by the SDR:
  the AE's later call is no first contact, and the replay's direct SQLs are called first by the
  AE. An acceptance (ae_accepted) is the SQL itself, not a touch.

The statistic is the median over leads: first-touch delays are heavy-tailed (nights, weekends,
a lead found in a queue weeks later), the median is what a typical handoff gets and moves
little with the tail. On the demo world it is 27.7 h, next to the 27.2 h that keeps, under the
default 24-hour half-life, what the whole spread keeps on average, while the mean (58 h) is
pulled up by the tail.

A measured time replaces `costs.sdr_response_hours` / `costs.ae_response_hours` only when at
least `feedback.min_leads` leads are behind it; otherwise, and when the database has no
lead_feedback table (a source without feedback), the configured value stays and the study says
so.

Two more things the replay takes from the same feedback: the history's own first-touch delays
(`first_touch_days`, the speed the outcome model's values were earned at) and the leads an SDR
sent back as not ready (`not_ready_days`, so that their handoff does not count as the moment
they were ready). `benchmarks/feedback_learning.py` measures each against the synthetic world's
truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, ConfigError, CostModel
from scoring.data.database import as_stored
from scoring.features import to_days
from scoring.feedback.table import FEEDBACK, define
from scoring.monitoring.handoffs import lead_times, read_columns, times_of

CONTACT = "contact_attempt"
SDR_DECISIONS = ("sdr_accepted", "sdr_rejected")
SDR_TOUCHES = (CONTACT, *SDR_DECISIONS)
AE_TOUCHES = (CONTACT, "ae_disqualified")
LANES = {"sdr": "sdr_response_hours", "ae": "ae_response_hours"}
_HOUR = np.timedelta64(3_600_000_000, "us")


@dataclass(frozen=True)
class Measured:
    """One lane's first-touch delays: the median in hours over `leads` leads (None when there
    is no lead to measure)."""

    hours: float | None
    leads: int


@dataclass(frozen=True)
class ResponseTimes:
    """What the feedback says of both lanes' speed, and which numbers the study uses."""

    sdr: Measured
    ae: Measured
    min_leads: int
    table: bool = True  # False: the database has no lead_feedback table
    handoffs: bool = True  # False: no handoff times to measure from (no funnel, no history)

    def used(self, lane: str) -> bool:
        """Whether the lane's measured time replaces the configured one."""
        found: Measured = getattr(self, lane)
        return found.hours is not None and found.leads >= self.min_leads

    def apply(self, costs: CostModel) -> CostModel:
        """The cost model with the measured times that have enough leads behind them."""
        update = {key: getattr(self, lane).hours for lane, key in LANES.items() if self.used(lane)}
        return costs.model_copy(update=update) if update else costs

    def source(self, lane: str) -> str:
        """Where the lane's response time comes from, in words: "measured from N leads" or
        "configured" with the reason."""
        found: Measured = getattr(self, lane)
        if self.used(lane):
            return f"measured from {found.leads:,} leads"
        key = f"costs.{LANES[lane]}"
        if not self.table:
            return f"configured ({key}; the lead database has no {FEEDBACK} table)"
        if not self.handoffs:
            return f"configured ({key}; no handoff times to measure from)"
        which = "leads" if lane == "sdr" else "leads handed straight to an AE"
        return (
            f"configured ({key}; {found.leads:,} {which} with a measured first touch, fewer "
            f"than feedback.min_leads {self.min_leads:,})"
        )

    def summary(self, costs: CostModel) -> dict:
        """Per lane: the hours the study used, where they come from, and what was measured."""
        return {
            lane: {
                "hours": getattr(costs, key),
                "source": "measured" if self.used(lane) else "configured",
                "leads": getattr(self, lane).leads,
                "measured_hours": getattr(self, lane).hours,
                "text": self.source(lane),
            }
            for lane, key in LANES.items()
        } | {"min_leads": self.min_leads}


def response_summary(response: ResponseTimes | None, costs: CostModel) -> dict:
    """`ResponseTimes.summary`, or the configured times when nothing was read (a replay built
    without the lead database's feedback)."""
    if response is not None:
        return response.summary(costs)
    return {
        lane: {
            "hours": getattr(costs, key),
            "source": "configured",
            "leads": 0,
            "measured_hours": None,
            "text": f"configured (costs.{key})",
        }
        for lane, key in LANES.items()
    }


def configured(cfg: Config, table: bool = False) -> ResponseTimes:
    """No measurement: the config's times, and why (no lead_feedback table by default)."""
    none = Measured(None, 0)
    return ResponseTimes(none, none, cfg.feedback.min_leads, table=table)


def read_feedback(engine: sa.Engine) -> pd.DataFrame | None:
    """`lead_id` (text), `kind`, `occurred_at` (naive UTC) and `reason` of every lead_feedback
    row; None when the database has no such table."""
    if not sa.inspect(engine).has_table(FEEDBACK):
        return None
    table = define().feedback
    query = sa.select(table.c.lead_id, table.c.kind, table.c.occurred_at, table.c.reason)
    found = read_columns(engine, as_stored(query))
    return pd.DataFrame(
        {
            "lead_id": found["lead_id"].astype(str),
            "kind": found["kind"],
            "occurred_at": times_of(found["occurred_at"], f"{FEEDBACK}.occurred_at"),
            "reason": found["reason"],
        }
    )


def _first_after(rows: pd.DataFrame, start: pd.Series) -> pd.Series:
    """Per lead of `start` (time by lead id), the earliest `occurred_at` of its rows at or
    after its start."""
    rows = rows.merge(start.rename("start"), left_on="lead_id", right_index=True)
    rows = rows[rows["occurred_at"] >= rows["start"]]
    return rows.groupby("lead_id", sort=False)["occurred_at"].min()


def _hours(start: pd.Series, stop: pd.Series) -> np.ndarray:
    delay = stop - start.reindex(stop.index)
    return (delay.to_numpy(dtype="timedelta64[us]") / _HOUR).astype(float)


def sdr_delays(times: pd.DataFrame, feedback: pd.DataFrame) -> pd.Series:
    """Hours from each handed-off lead's handoff to its first SDR touch (by lead id)."""
    start = times.set_index("lead_id")["handed_at"].dropna()
    touches = feedback[feedback["kind"].isin(SDR_TOUCHES)]
    stop = _first_after(touches, start)
    return pd.Series(_hours(start, stop), index=stop.index)


def ae_delays(times: pd.DataFrame, feedback: pd.DataFrame) -> pd.Series:
    """Hours from the SQL time to the AE's first touch, of leads handed straight to an AE."""
    start = times.set_index("lead_id")["sql_at"].dropna()
    accepted = times.set_index("lead_id")["sal_at"].reindex(start.index)
    start = start[~(accepted < start)]  # an SDR accepted it first: not a direct SQL
    before = feedback[feedback["kind"].isin(SDR_TOUCHES)].merge(
        start.rename("start"), left_on="lead_id", right_index=True
    )
    worked = before.loc[before["occurred_at"] < before["start"], "lead_id"].unique()
    start = start.drop(worked, errors="ignore")
    stop = _first_after(feedback[feedback["kind"].isin(AE_TOUCHES)], start)
    return pd.Series(_hours(start, stop), index=stop.index)


def _measured(hours: pd.Series) -> Measured:
    hours = hours[np.isfinite(hours) & (hours >= 0)]
    return Measured(float(np.median(hours)) if len(hours) else None, len(hours))


@dataclass(frozen=True)
class SalesFeedback:
    """The feedback the threshold study reads, once: the response times, the history's
    first-touch delays and the not-ready rejections."""

    response: ResponseTimes
    first_touch: pd.Series  # hours from handoff to first SDR touch, by lead id (may be empty)
    not_ready: pd.Series  # latest not-ready rejection, by lead id (naive UTC; may be empty)

    def first_touch_days(self, lead_ids: pd.Index | None = None) -> np.ndarray:
        """The history's handoff-to-first-touch delays in days, of `lead_ids` when given (all
        leads otherwise); empty when fewer than `feedback.min_leads` leads have one."""
        found = self.first_touch
        if lead_ids is not None:
            found = found[found.index.isin(pd.Index(lead_ids).astype(str))]
        if len(found) < self.response.min_leads:
            return np.empty(0)
        return found.to_numpy(dtype=float) / 24.0

    def not_ready_days(self, lead_ids: pd.Index) -> np.ndarray:
        """Per lead of `lead_ids`, its latest not-ready rejection in days since the epoch (NaN
        when it has none)."""
        found = self.not_ready.reindex(pd.Index(lead_ids).astype(str))
        return to_days(found.to_numpy(dtype="datetime64[us]"))


def no_feedback(cfg: Config, table: bool = False) -> SalesFeedback:
    empty_times = pd.Series(dtype="datetime64[us]")
    return SalesFeedback(configured(cfg, table), pd.Series(dtype=float), empty_times)


def sales_feedback(cfg: Config, engine: sa.Engine) -> SalesFeedback:
    """What the lead database's feedback says; the configured times (with the reason) when it
    has no lead_feedback table or no handoff times to measure from."""
    feedback = read_feedback(engine)
    if feedback is None:
        return no_feedback(cfg)
    try:
        times = lead_times(cfg, engine)
    except ConfigError:  # no funnel and no lead_stage_history: no handoffs to start from
        none = Measured(None, 0)
        return SalesFeedback(
            ResponseTimes(none, none, cfg.feedback.min_leads, handoffs=False),
            pd.Series(dtype=float),
            _not_ready(cfg, feedback),
        )
    sdr = sdr_delays(times, feedback)
    response = ResponseTimes(
        _measured(sdr), _measured(ae_delays(times, feedback)), cfg.feedback.min_leads
    )
    return SalesFeedback(response, sdr[np.isfinite(sdr) & (sdr >= 0)], _not_ready(cfg, feedback))


def _not_ready(cfg: Config, feedback: pd.DataFrame) -> pd.Series:
    """The latest rejection of each lead for a reason in `feedback.not_ready`."""
    rejected = feedback[
        (feedback["kind"] == "sdr_rejected") & feedback["reason"].isin(cfg.feedback.not_ready)
    ]
    return rejected.groupby("lead_id", sort=False)["occurred_at"].max()


def measured_response(cfg: Config, engine: sa.Engine) -> ResponseTimes:
    """The study's response times (`ResponseTimes.apply` puts them in the cost model)."""
    return sales_feedback(cfg, engine).response
