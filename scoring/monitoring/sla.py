"""The handoff agreement's clocks (`sla:`): one per lead and rule, met, breached or running.

- mql_delivery, owned by marketing (team marketing, stage lead->mql): starts at the latest
  event at or before the handoff, is due mql_delivery_hours (clock hours) later, and stops at
  the handoff.
- first_touch, owned by sales (sdr, mql): starts at the handoff, is due
  first_touch_business_hours later on the calendar, and stops at the first contact attempt or
  SDR decision at or after the handoff.
- contact_attempts, sales (sdr, mql): starts at the handoff, is due attempts_within_days days
  later, and stops at the min_attempts-th contact attempt at or after the handoff, or at an
  SDR decision that comes before it.
- sal_to_sql, sales (ae, sal): starts at the lead's first sdr_accepted feedback or the funnel's
  `sal` time (the earlier), is due sal_to_sql_days days later, and stops at the first AE
  decision (ae_accepted, ae_disqualified) or the funnel's `sql` time at or after the start.

The handoff is the lead's MQL time (`scoring.monitoring.handoffs`). A rule set to null in the
config is not checked; mql_delivery needs an events table and an event before the handoff.

States, at `now`: `met` (stopped by its due time), `breached` (stopped, late), `open` (running,
not due yet), `overdue` (running past its due time: an open breach). Everything is seen as of
`now`: feedback, funnel times and handoffs after it do not exist yet, so a past `now` gives the
clocks as they stood then.

Clocks are computed for all leads at once (SQL for the events, grouped pandas for feedback,
the vectorised calendar for business hours): a million leads take seconds.

The service's `/metrics` (Prometheus) has `leadscore_sla_clocks{rule, owner, team, stage, state}`
from `summary`, and the first-touch histogram `leadscore_first_touch_business_hours` of
`first_touch_hours` with `FIRST_TOUCH_BUCKETS` (`histogram` gives its cumulative buckets); the
series and their values: `scoring.monitoring.metrics`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config
from scoring.config.sla import SlaSpec
from scoring.data.database import as_stored
from scoring.feedback.table import FEEDBACK, define
from scoring.monitoring.calendar import BusinessCalendar, instants
from scoring.monitoring.handoffs import crossings, lead_times, read_columns, times_of

Instant = str | dt.datetime | pd.Timestamp | np.datetime64 | None  # None: now; naive is UTC
Rule = Literal["mql_delivery", "first_touch", "contact_attempts", "sal_to_sql"]
State = Literal["met", "breached", "open", "overdue"]
RULES: tuple[Rule, ...] = ("mql_delivery", "first_touch", "contact_attempts", "sal_to_sql")
STATES: tuple[State, ...] = ("met", "breached", "open", "overdue")
BUSINESS_HOURS, HOURS = "business_hours", "hours"
COLUMNS = (
    "lead_id",
    "rule",
    "owner",
    "team",
    "stage",
    "started_at",
    "due_at",
    "met_at",
    "state",
    "took_hours",  # start to stop, in `unit`; NaN while running
    "late_hours",  # due to stop (breached) or to now (overdue), in `unit`; NaN otherwise
    "unit",  # business_hours for first_touch, hours for the others
)
# first touch, in business hours: 5 and 15 minutes, half an hour, an hour, two, half a working
# day, a day, two, three, a week (of 8-hour days)
FIRST_TOUCH_BUCKETS: tuple[float, ...] = (5 / 60, 0.25, 0.5, 1, 2, 4, 8, 16, 24, 40)

CONTACT = "contact_attempt"
SDR_DECISIONS = ("sdr_accepted", "sdr_rejected")
AE_DECISIONS = ("ae_accepted", "ae_disqualified")
_NAT = np.datetime64("NaT", "us")
_HOUR = np.timedelta64(1, "h")


@dataclass(frozen=True)
class Owner:
    owner: str  # the side of the agreement: marketing | sales
    team: str  # who acts: marketing | sdr | ae
    stage: str  # the lead's stage while the clock runs


OWNER_FIELDS = ("owner", "team", "stage")
OWNERS: dict[str, Owner] = {
    "mql_delivery": Owner("marketing", "marketing", "lead->mql"),
    "first_touch": Owner("sales", "sdr", "mql"),
    "contact_attempts": Owner("sales", "sdr", "mql"),
    "sal_to_sql": Owner("sales", "ae", "sal"),
}


def checked_rules(spec: SlaSpec) -> tuple[Rule, ...]:
    """The rules the config checks (a rule set to null is not)."""
    values = {
        "mql_delivery": spec.mql_delivery_hours,
        "first_touch": spec.first_touch_business_hours,
        "contact_attempts": spec.min_attempts,
        "sal_to_sql": spec.sal_to_sql_days,
    }
    return tuple(rule for rule in RULES if values[rule] is not None)


def utc_now() -> np.datetime64:
    return np.datetime64(dt.datetime.now(dt.UTC).replace(tzinfo=None), "us")


def as_instant(value: Instant) -> np.datetime64:
    """A point in time as naive UTC datetime64[us] (None: now; naive values are UTC)."""
    if value is None:
        return utc_now()
    if isinstance(value, str):
        value = pd.Timestamp(value)
    found = instants(value)
    if found.shape != () or np.isnat(found):
        raise ValueError(f"not one point in time: {value!r}")
    return found[()]


def read_feedback(engine: sa.Engine, now: Instant = None) -> pd.DataFrame:
    """lead_feedback rows up to `now` (in no particular order): `lead_id`, `kind` and
    `occurred_at` (naive UTC); none when the database has no lead_feedback table yet."""
    found = {name: np.empty(0, dtype=object) for name in ("lead_id", "kind", "occurred_at")}
    if sa.inspect(engine).has_table(FEEDBACK):
        table = define().feedback
        kinds = (CONTACT, *SDR_DECISIONS, *AE_DECISIONS)
        query = sa.select(table.c.lead_id, table.c.kind, table.c.occurred_at)
        found = read_columns(engine, as_stored(query.where(table.c.kind.in_(kinds))))
    frame = pd.DataFrame(
        {
            "lead_id": found["lead_id"],
            "kind": found["kind"],
            "occurred_at": times_of(found["occurred_at"], f"{FEEDBACK}.occurred_at"),
        }
    )
    keep = frame["occurred_at"].notna() & (frame["occurred_at"] <= as_instant(now))
    return frame[keep].reset_index(drop=True)


def _earliest(rows: pd.DataFrame, since: pd.DataFrame | None = None) -> pd.Series:
    """The earliest `occurred_at` of each lead's rows (at or after its `since` time when
    `since` has one per lead), indexed by lead id."""
    if since is not None:
        rows = rows.merge(since, on="lead_id")
        rows = rows[rows["occurred_at"] >= rows["since"]]
    return rows.groupby("lead_id", sort=False)["occurred_at"].min()


def _nth(rows: pd.DataFrame, since: pd.DataFrame, n: int) -> pd.Series:
    """The time of each lead's n-th row (1-based, rows sorted by time) at or after `since`."""
    rows = rows.merge(since, on="lead_id")
    rows = rows[rows["occurred_at"] >= rows["since"]].sort_values(
        ["lead_id", "occurred_at"], kind="stable"
    )
    nth = rows[rows.groupby("lead_id", sort=False).cumcount() == n - 1]
    return nth.set_index("lead_id")["occurred_at"]


def _at(leads: pd.Index, found: pd.Series) -> np.ndarray:
    """`found` (by lead id) for each of `leads`, NaT where it has none."""
    return found.reindex(leads).to_numpy(dtype="datetime64[us]", copy=True)


def _earlier(*times: np.ndarray) -> np.ndarray:
    """The element-wise earliest, ignoring NaT (NaT only where all are)."""
    stacked = np.stack([t.astype("datetime64[us]") for t in times])
    ints = stacked.view(np.int64).copy()
    ints[np.isnat(stacked)] = np.iinfo(np.int64).max
    out = ints.min(axis=0).view("datetime64[us]").copy()
    out[np.isnat(stacked).all(axis=0)] = _NAT
    return out


def _clocks(
    rule: Rule, lead_id: np.ndarray, start: np.ndarray, due: np.ndarray, met: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {"lead_id": lead_id, "rule": rule, "started_at": start, "due_at": due, "met_at": met}
    )


def _days(days: float) -> np.timedelta64:
    return np.timedelta64(round(days * 86_400_000_000), "us")


def sla_clocks(cfg: Config, engine: sa.Engine, now: Instant = None) -> pd.DataFrame:
    """Every SLA clock as of `now` (default: the current time; naive UTC): one row per lead and
    checked rule, with the columns of `COLUMNS` (the rules: this module's docstring)."""
    spec = cfg.sla
    rules = checked_rules(spec)
    at = as_instant(now)
    calendar = BusinessCalendar(spec.calendar)
    parts: list[pd.DataFrame] = []
    times = lead_times(cfg, engine)
    for column in ("handed_at", "sal_at", "sql_at"):  # what happens after now is not known yet
        times.loc[times[column] > at, column] = pd.NaT
    handed = times[times["handed_at"].notna()]
    leads = pd.Index(handed["lead_id"])
    handoff = handed["handed_at"].to_numpy(dtype="datetime64[us]")
    since = pd.DataFrame({"lead_id": handed["lead_id"].to_numpy(), "since": handoff})
    sales = {"first_touch", "contact_attempts", "sal_to_sql"} & set(rules)
    feedback = read_feedback(engine, at) if sales else None

    if "mql_delivery" in rules:
        crossed = crossings(cfg, engine).merge(handed[["lead_id", "handed_at"]], on="lead_id")
        start = crossed["crossed_at"].to_numpy(dtype="datetime64[us]")
        due = start + _days(spec.mql_delivery_hours / 24)
        met = crossed["handed_at"].to_numpy(dtype="datetime64[us]")
        parts.append(_clocks("mql_delivery", crossed["lead_id"].to_numpy(), start, due, met))
    if feedback is not None:
        kinds = feedback["kind"]
        contacts = feedback[kinds == CONTACT]
        decided = _at(leads, _earliest(feedback[kinds.isin(SDR_DECISIONS)], since))
        ids = leads.to_numpy(dtype=object)
        if "first_touch" in rules:
            due = calendar.add_hours(handoff, spec.first_touch_business_hours)
            met = _earlier(_at(leads, _earliest(contacts, since)), decided)
            parts.append(_clocks("first_touch", ids, handoff, due, met))
        if "contact_attempts" in rules:
            assert spec.min_attempts is not None
            due = handoff + _days(spec.attempts_within_days)
            met = _earlier(_at(leads, _nth(contacts, since, spec.min_attempts)), decided)
            parts.append(_clocks("contact_attempts", ids, handoff, due, met))
        if "sal_to_sql" in rules:
            assert spec.sal_to_sql_days is not None
            parts.append(_sal_to_sql(times, feedback, spec.sal_to_sql_days))
    if not parts:
        none = np.array([], dtype="datetime64[us]")
        parts.append(_clocks("first_touch", np.array([], dtype=object), none, none, none))
    clocks = pd.concat(parts, ignore_index=True)
    return _finish(clocks, at, calendar)


def _sal_to_sql(times: pd.DataFrame, feedback: pd.DataFrame, days: float) -> pd.DataFrame:
    accepted = _earliest(feedback[feedback["kind"] == "sdr_accepted"])
    leads = pd.Index(times["lead_id"]).union(accepted.index)
    funnel = times.set_index("lead_id")
    start = _earlier(_at(leads, accepted), _at(leads, funnel["sal_at"]))
    started = ~np.isnat(start)
    leads, start = leads[started], start[started]
    since = pd.DataFrame({"lead_id": leads.to_numpy(dtype=object), "since": start})
    decided = _at(leads, _earliest(feedback[feedback["kind"].isin(AE_DECISIONS)], since))
    qualified = _at(leads, funnel["sql_at"])
    qualified[qualified < start] = _NAT
    met = _earlier(decided, qualified)
    return _clocks("sal_to_sql", leads.to_numpy(dtype=object), start, start + _days(days), met)


def _finish(clocks: pd.DataFrame, now: np.datetime64, calendar: BusinessCalendar) -> pd.DataFrame:
    """States, durations and owners of the clocks."""
    start, due, met = (clocks[c].to_numpy(dtype="datetime64[us]") for c in clocks.columns[2:5])
    stopped = ~np.isnat(met)
    state = np.where(
        stopped, np.where(met <= due, "met", "breached"), np.where(now > due, "overdue", "open")
    )
    business = (clocks["rule"] == "first_touch").to_numpy()
    late_until = np.where(stopped, met, now)

    def hours(begin: np.ndarray, end: np.ndarray) -> np.ndarray:
        out = (end - begin) / _HOUR
        if business.any():
            out[business] = calendar.hours_between(begin[business], end[business])
        return out

    late = hours(due, late_until)
    late[(state == "met") | (state == "open")] = np.nan
    rule = pd.Categorical(clocks["rule"], categories=RULES)
    owners = {field: {r: getattr(o, field) for r, o in OWNERS.items()} for field in OWNER_FIELDS}
    out = pd.DataFrame(
        {
            "lead_id": clocks["lead_id"].to_numpy(dtype=object),
            "rule": rule,
            **{field: rule.map(owners[field]) for field in OWNER_FIELDS},
            "started_at": start,
            "due_at": due,
            "met_at": met,
            "state": pd.Categorical(state, categories=STATES),
            "took_hours": hours(start, met),
            "late_hours": late,
            "unit": np.where(business, BUSINESS_HOURS, HOURS),
        }
    )
    return out[list(COLUMNS)]


def breaches(clocks: pd.DataFrame, now: Instant = None, recent_days: float = 30.0) -> pd.DataFrame:
    """The open breaches (overdue) and the clocks breached with a due time within the last
    `recent_days` before `now`: overdue first, then breached, each oldest due first."""
    at = as_instant(now)
    overdue = clocks["state"] == "overdue"
    recent = (clocks["state"] == "breached") & (clocks["due_at"] >= at - _days(recent_days))
    found = clocks[overdue | recent]
    order = np.where(found["state"] == "overdue", 0, 1)
    return (
        found.assign(_order=order)
        .sort_values(["_order", "due_at", "rule", "lead_id"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def summary(clocks: pd.DataFrame, rules: tuple[str, ...] = RULES) -> pd.DataFrame:
    """Per rule: owner, team, stage, the number of clocks in each state, `clocks` (all of them)
    and `breach_rate`, the share of the stopped or overdue clocks that were late (NaN for
    none)."""
    counts = (
        pd.crosstab(clocks["rule"].astype(str), clocks["state"].astype(str))
        .reindex(index=list(rules), columns=list(STATES), fill_value=0)
        .astype(int)
    )
    out = pd.DataFrame(
        {
            "rule": list(rules),
            **{field: [getattr(OWNERS[r], field) for r in rules] for field in OWNER_FIELDS},
            **{state: counts[state].to_numpy() for state in STATES},
        }
    )
    out["clocks"] = counts.sum(axis=1).to_numpy()
    late = out["breached"] + out["overdue"]
    decided = out["met"] + late
    out["breach_rate"] = np.where(decided > 0, late / decided.where(decided > 0, 1), np.nan)
    return out


def first_touch_hours(clocks: pd.DataFrame) -> np.ndarray:
    """Business hours from handoff to first touch of every touched lead (for a histogram)."""
    touched = (clocks["rule"] == "first_touch") & clocks["met_at"].notna()
    return clocks.loc[touched, "took_hours"].to_numpy(dtype=float)


@dataclass(frozen=True)
class Histogram:
    """A Prometheus histogram's numbers: cumulative counts at each upper bound (`le`), the last
    one +Inf, and the sum and count of the values."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float
    count: int


def histogram(values: np.ndarray, bounds: tuple[float, ...] = FIRST_TOUCH_BUCKETS) -> Histogram:
    """The values (NaN left out) counted into Prometheus' cumulative buckets."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    edges = (*bounds, float("inf"))
    counts = tuple(int(n) for n in np.searchsorted(np.sort(values), edges, side="right"))
    return Histogram(edges, counts, float(values.sum()), len(values))
