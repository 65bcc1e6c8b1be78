"""Feedback checked against the config and the lead database: the reason is one of the config's,
the rating within its scale, the lead exists, and the time is neither in the future nor before
the lead was created. Every problem names the field."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa

from scoring.config import Config, ConfigError
from scoring.config.feedback import REASON_KINDS
from scoring.data.parse import id_text, parse_timestamps
from scoring.data.sql import in_lists
from scoring.feedback.records import FeedbackItem


@dataclass(frozen=True)
class Problem:
    """What is wrong with the item at `index` of a batch."""

    index: int
    field: str
    msg: str
    type: str

    def located(self, prefix: tuple[str | int, ...] = ()) -> dict:
        return {"loc": [*prefix, self.index, self.field], "msg": self.msg, "type": self.type}


def digest(item: FeedbackItem, reason: str | None) -> str:
    """Of the content (not the id): tells a retry from another use of the same id."""
    content = [item.lead_id, item.kind, item.occurred_at.isoformat(), reason, item.rating]
    content.append(item.channel)
    return hashlib.md5(json.dumps(content).encode(), usedforsecurity=False).hexdigest()


def rows_of(
    items: Sequence[FeedbackItem], cfg: Config, leads: LeadLookup, now: datetime
) -> tuple[list[dict], list[Problem]]:
    """The lead_feedback rows of the items that pass (reason names as the config's), and the
    problems of those that do not, by their index in `items`."""
    problems = _config_problems(items, cfg) + _lead_problems(items, cfg, leads, now)
    refused = {p.index for p in problems}
    rows = []
    for i, item in enumerate(items):
        if i in refused:
            continue
        reason = cfg.feedback.reason(item.kind, item.reason) if item.reason else None
        rows.append(
            {
                "feedback_id": item.id,
                "lead_id": item.lead_id,
                "kind": item.kind,
                "occurred_at": item.occurred_at,
                "reason": reason,
                "rating": item.rating,
                "channel": item.channel,
                "digest": digest(item, reason),
                "index": i,
            }
        )
    return rows, problems


def _config_problems(items: Sequence[FeedbackItem], cfg: Config) -> list[Problem]:
    spec = cfg.feedback
    problems = []
    for i, item in enumerate(items):
        if item.reason is not None and spec.reason(item.kind, item.reason) is None:
            key = REASON_KINDS[item.kind]
            known = ", ".join(getattr(spec, key))
            msg = f"unknown reason for {item.kind}: not in feedback.{key} ({known})"
            problems.append(Problem(i, "reason", msg, "unknown_reason"))
        if item.rating is not None and item.rating > spec.rating_max:
            msg = f"ratings go from 1 to {spec.rating_max} (feedback.rating_max)"
            problems.append(Problem(i, "rating", msg, "rating_out_of_scale"))
    return problems


def _lead_problems(
    items: Sequence[FeedbackItem], cfg: Config, leads: LeadLookup, now: datetime
) -> list[Problem]:
    latest = now + timedelta(seconds=cfg.feedback.max_clock_skew_seconds)
    created = leads.created(sorted({item.lead_id for item in items}))
    problems = []
    for i, item in enumerate(items):
        if item.occurred_at > latest:
            msg = f"in the future (the server's clock says {now:%Y-%m-%dT%H:%M:%SZ})"
            problems.append(Problem(i, "occurred_at", msg, "time_in_future"))
        if item.lead_id not in created:
            msg = f"no lead with this id in {cfg.leads.table}.{cfg.leads.id}"
            problems.append(Problem(i, "lead_id", msg, "unknown_lead"))
        elif (since := created[item.lead_id]) is not None and item.occurred_at < since:
            msg = f"before the lead was created ({since:%Y-%m-%dT%H:%M:%SZ})"
            problems.append(Problem(i, "occurred_at", msg, "before_lead_created"))
    return problems


class LeadLookup:
    """When leads were created, by id: the leads table reflected once (a service checks every
    request's leads with it)."""

    def __init__(self, cfg: Config, engine: sa.Engine) -> None:
        self.cfg, self.engine = cfg, engine
        self.table = _leads_table(cfg, engine)

    def created(self, ids: Sequence[str]) -> dict[str, datetime | None]:
        """Of the `ids` that are leads, when each was created (None: no creation date)."""
        leads, spec = self.table, self.cfg.leads
        key = leads.c[spec.id]
        wanted: Sequence[object] = ids
        if isinstance(key.type, sa.Integer):  # an integer id column cannot compare with text
            wanted = [int(i) for i in ids if i.lstrip("-").isdigit()]
        columns = [key, *([leads.c[spec.created_at]] if spec.created_at else [])]
        rows: list[tuple] = []
        with self.engine.connect() as conn:
            for clause in in_lists(key, wanted):
                rows += conn.execute(sa.select(*columns).where(clause)).all()
        if not spec.created_at:
            return {id_text(r[0]) or "": None for r in rows}
        stamps, _ = parse_timestamps(np.array([r[1] for r in rows], dtype=object))
        return {
            id_text(r[0]) or "": None if np.isnat(s) else s.astype(datetime)
            for r, s in zip(rows, stamps, strict=True)
        }


def _leads_table(cfg: Config, engine: sa.Engine) -> sa.Table:
    try:
        leads = sa.Table(cfg.leads.table, sa.MetaData(), autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise ConfigError(
            f"leads.table: table {cfg.leads.table!r} is not in the lead database"
        ) from None
    for key, column in (("leads.id", cfg.leads.id), ("leads.created_at", cfg.leads.created_at)):
        if column and column not in leads.c:
            raise ConfigError(f"{key}: column {column!r} is not in table {cfg.leads.table!r}")
    return leads
