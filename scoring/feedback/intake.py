"""Feedback taken in bulk (a file import, the CRM's activity table): every row is stored, or
kept in lead_feedback_errors with the field and the reason. Nothing is dropped silently."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from pydantic import ValidationError

from scoring.config import Config
from scoring.data.sql import in_lists
from scoring.feedback import table
from scoring.feedback.checks import LeadLookup, Problem, rows_of
from scoring.feedback.records import FeedbackItem
from scoring.feedback.store import Origin, write

CHUNK = 5_000  # rows checked and written in one transaction


@dataclass
class Intake:
    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    updated: int = 0
    refused: int = 0
    unchanged: int = 0  # of the duplicates, CRM rows not checked again (`crm_rows`)
    refused_rows: list[int] = field(default_factory=list, repr=False)  # positions in the input

    def to_text(self, what: str) -> str:
        line = f"{what}: {self.rows:,} rows, {self.stored:,} stored, "
        line += f"{self.duplicates:,} already stored"
        if self.unchanged:
            line += f" ({self.unchanged:,} unchanged in the CRM since the last sync)"
        if self.updated:
            line += f", {self.updated:,} updated"
        if self.refused:
            line += f", {self.refused:,} refused (see lead_feedback_errors)"
        return line


def take(
    raw: Sequence[dict],
    cfg: Config,
    engine: sa.Engine,
    origin: Origin,
    source: str,
    now: datetime,
    first_row: int = 1,
) -> Intake:
    """Check and store `raw` rows (FeedbackItem fields, values as read); `source` and the row
    numbers from `first_row` say where a refused row came from."""
    tables = table.create(engine)
    leads = LeadLookup(cfg, engine)
    done = Intake()
    for start in range(0, len(raw), CHUNK):
        chunk = raw[start : start + CHUNK]
        items, positions, errors = _parsed(chunk)
        rows, problems = rows_of(items, cfg, leads, now)
        written = write(engine, tables, rows, origin, now)
        refused = errors + [(positions[p.index], p) for p in [*problems, *written.conflicts]]
        rows_at = (source, first_row + start)
        _keep_refused(engine, tables.errors, chunk, refused, rows_at, now, origin == "crm")
        done.rows += len(chunk)
        done.stored += len(written.stored)
        done.duplicates += len(written.duplicates)
        done.updated += len(written.updated)
        refused_at = sorted({start + i for i, _ in refused})
        done.refused += len(refused_at)
        done.refused_rows += refused_at
    return done


Refused = list[tuple[int, Problem]]  # (position in the chunk, what is wrong)


def _parsed(chunk: Sequence[dict]) -> tuple[list[FeedbackItem], list[int], Refused]:
    """The rows that are feedback in shape, their positions in `chunk`, and the problems of the
    others."""
    items: list[FeedbackItem] = []
    positions: list[int] = []
    errors: Refused = []
    for i, row in enumerate(chunk):
        try:
            items.append(FeedbackItem.model_validate(row))
            positions.append(i)
        except ValidationError as exc:
            for e in exc.errors(include_url=False, include_input=False):
                where = ".".join(str(p) for p in e["loc"]) or "(row)"
                errors.append((i, Problem(i, where, e["msg"], e["type"])))
    return items, positions, errors


def _keep_refused(
    engine: sa.Engine,
    errors: sa.Table,
    chunk: Sequence[dict],
    refused: Refused,
    rows_at: tuple[str, int],
    now: datetime,
    replace: bool,
) -> None:
    """The refused rows of `chunk` into lead_feedback_errors, numbered from `rows_at` (the
    source, the chunk's first row number). With `replace` (the CRM's rows, checked again on every
    sync until they pass), a row's earlier records from the same source go first: one record a
    row, not one a sync."""
    source, first_row = rows_at
    by_row: dict[int, list[Problem]] = {}
    for position, problem in refused:
        by_row.setdefault(position, []).append(problem)
    records = [
        {
            "source": source,
            "row_number": first_row + position,
            "feedback_id": _text(chunk[position].get("id")),
            "fields": ", ".join(dict.fromkeys(p.field for p in found)),
            "reason": "; ".join(f"{p.field}: {p.msg}" for p in found),
            "row": json.dumps(chunk[position], default=str),
            "detected_at": now,
        }
        for position, found in sorted(by_row.items())
    ]
    if records:
        with engine.begin() as conn:
            if replace:
                ids = sorted({r["feedback_id"] for r in records if r["feedback_id"] is not None})
                for clause in in_lists(errors.c.feedback_id, ids):
                    conn.execute(errors.delete().where(errors.c.source == source, clause))
            conn.execute(errors.insert(), records)


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:255]
