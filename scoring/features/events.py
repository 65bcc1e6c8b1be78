"""Activity events resolved against the leads, and the event features at any point in time:
counts per window, recency, decayed engagement, hand-raises."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from scoring.config import Config
from scoring.data.arrays import lookup, within_groups
from scoring.features.time import to_days


def _positions(keys: Sequence[object] | pd.Index, values: np.ndarray) -> np.ndarray:
    """Position of each value in `keys` (-1 when absent)."""
    return lookup(values, {k: i for i, k in enumerate(keys)}, -1, np.intp)


@dataclass(frozen=True)
class Events:
    """Events resolved against the leads: lead position, position of the configured type (-1
    for other types), time (datetime64[us] and days). Events of other leads or without a time
    are left out: they never count."""

    lead: np.ndarray
    kind: np.ndarray
    when: np.ndarray
    days: np.ndarray

    @cached_property
    def _by_lead(self) -> tuple[np.ndarray, np.ndarray]:
        """The events' positions in lead order (stable) and their leads in that order: sorted
        once, so each `subset` costs its own rows, not all the events again."""
        order = np.argsort(self.lead, kind="stable")
        return order, self.lead[order]

    def subset(self, rows: np.ndarray) -> Events:
        """The events of the leads at positions `rows`, renumbered like `rows`. A lead may come
        more than once (the replay scores it at many moments): each copy gets its events. A
        lead's events keep their order."""
        order, leads = self._by_lead
        start = np.searchsorted(leads, rows, side="left")
        taken = np.searchsorted(leads, rows, side="right") - start
        picked = order[np.repeat(start, taken) + within_groups(taken)]
        lead = np.repeat(np.arange(len(rows)), taken)
        return Events(lead, self.kind[picked], self.when[picked], self.days[picked])


def resolve_events(
    cfg: Config,
    ids: pd.Index | np.ndarray,
    events: pd.DataFrame | Mapping[str, np.ndarray] | None,
) -> Events:
    spec = cfg.events
    assert spec is not None
    if events is None or not len(events["lead_id"]):
        none = np.empty(0, dtype=np.intp)
        return Events(none, none, np.empty(0, dtype="datetime64[us]"), np.empty(0))
    when = np.asarray(events["occurred_at"], dtype="datetime64[us]")
    lead = _positions(ids, np.asarray(events["lead_id"]))
    keep = np.flatnonzero((lead >= 0) & ~np.isnat(when))[::-1]
    lead, when = lead[keep], when[keep]
    kind = _positions(list(spec.types), np.asarray(events["event_type"])[keep])
    days = to_days(when)
    # sorted once for the sums of every point in time (see event_values); read backwards,
    # events in the order of a (lead, time) index mostly are
    if not _in_order(lead, -days, kind):
        order = np.lexsort((kind, -days, lead))
        lead, kind, when, days = lead[order], kind[order], when[order], days[order]
    return Events(lead, kind, when, days)


def event_values(
    cfg: Config, events: Events, as_of: np.ndarray, known_until: np.datetime64 | None
) -> list[np.ndarray]:
    spec = cfg.events
    assert spec is not None
    n = len(as_of)
    age = as_of[events.lead] - events.days
    seen = age >= 0  # the point-in-time cut: nothing after as_of
    if known_until is not None:
        seen &= events.when <= known_until
    lead, age, kind = events.lead[seen], age[seen], events.kind[seen]
    type_names = list(spec.types)
    # each lead's sums in a fixed order (age, type), not the order the events came in: the same
    # lead gets the same bits from the lead database and from a CRM posting its events newest first
    if not _in_order(lead, age, kind):
        order = np.lexsort((kind, age, lead))
        lead, age, kind = lead[order], age[order], kind[order]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(lead[mask], minlength=n).astype(float)

    out = []
    slots = len(type_names) + 1  # the configured types, then "other"
    cell = lead * slots + np.where(kind < 0, slots - 1, kind)
    for w in spec.windows_days:
        recent = age < w
        per_type = np.bincount(cell[recent], minlength=n * slots).reshape(n, slots)
        per_type = per_type.astype(float).T  # one row per type: contiguous columns below
        out.append(per_type.sum(axis=0))
        out += list(per_type[: len(type_names)])
    out += [_per_lead(np.minimum, lead, age, n), _per_lead(np.maximum, lead, age, n)]
    weights = np.array([spec.weights.get(t, 1.0) for t in type_names] + [1.0])[kind]
    decay = np.exp2(-age / spec.half_life_days)
    out.append(np.bincount(lead, weights=weights * decay, minlength=n))
    if spec.hand_raise:
        hand = np.array([t in spec.hand_raise for t in type_names] + [False])
        raised = hand[kind]  # kind -1 (other types) lands on the final False
        out += [np.minimum(count(kind == type_names.index(t)), 1.0) for t in spec.hand_raise]
        out += [count(raised), _per_lead(np.minimum, lead[raised], age[raised], n)]
    return out


def _in_order(lead: np.ndarray, age: np.ndarray, kind: np.ndarray) -> bool:
    """Whether each lead's events are together and in (age, type) order: the order its sums
    take. Events with equal keys add equal terms, and other leads add to other sums."""
    step = np.diff(lead)
    if (step < 0).any() and (step > 0).any():
        return False
    older = age[1:] < age[:-1]
    tie = (age[1:] == age[:-1]) & (kind[1:] < kind[:-1])
    return not ((step == 0) & (older | tie)).any()


def _per_lead(ufunc: np.ufunc, lead: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    start = np.inf if ufunc is np.minimum else -np.inf
    out = np.full(n, start)
    ufunc.at(out, lead, values)
    return np.where(np.isfinite(out), out, np.nan)
