"""`leadscore feedback import FILE`: a CRM export of feedback, one row per item, with the
columns of POST /feedback's items (id, lead_id, kind, occurred_at, reason, rating, channel)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, ConfigError
from scoring.config.source import FileSpec
from scoring.data.files import read_file
from scoring.data.parse import id_text
from scoring.feedback.intake import Intake, take
from scoring.feedback.records import FeedbackItem

FIELDS = tuple(FeedbackItem.model_fields)
REQUIRED = tuple(name for name, f in FeedbackItem.model_fields.items() if f.is_required())
IDS = ("id", "lead_id")


def import_file(cfg: Config, engine: sa.Engine, path: Path, now: datetime) -> Intake:
    """Store the file's feedback; rows that fail go to lead_feedback_errors with their row
    number (1: the first row under the header)."""
    frame = read_file(FileSpec(path=path))
    frame.columns = [str(c).strip() for c in frame.columns]
    unknown = sorted(set(frame.columns) - set(FIELDS))
    missing = sorted(set(REQUIRED) - set(frame.columns))
    problems = [f"unknown columns {unknown}"] if unknown else []
    problems += [f"missing columns {missing}"] if missing else []
    if problems:
        raise ConfigError(
            f"{path}: {'; '.join(problems)}: a feedback file has the columns {list(FIELDS)} "
            f"({', '.join(REQUIRED)} required)"
        )
    return take(_records(frame), cfg, engine, "import", str(path), now)


def _records(frame: pd.DataFrame) -> list[dict]:
    """The rows as FeedbackItem takes them: blanks missing, ids as text, whole numbers whole."""
    records = []
    for row in frame.astype(object).where(frame.notna(), None).to_dict("records"):
        for key in IDS:
            if key in row and row[key] is not None:
                row[key] = id_text(row[key])
        if isinstance(row.get("occurred_at"), pd.Timestamp):
            row["occurred_at"] = row["occurred_at"].to_pydatetime()
        records.append({k: v for k, v in row.items() if not (isinstance(v, str) and not v.strip())})
    return records
