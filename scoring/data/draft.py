"""`leadscore init EXPORT`: a draft config from a raw export, for a person to review.

It reads the file as `data import` would (separator and encoding detected), then guesses from the
values and the column names: the id (or a generated one), the created date, the outcome and its
won/lost values, the amount, and each feature's kind and group (fit: who the lead is; intent:
what it does). Columns whose names say they are filled after contact (status, duration, ...) or
that alone separate won from lost are written commented out, with the reason. Every guess is
marked in a comment; the draft loads as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.config import slug
from scoring.config.source import FileSpec
from scoring.data.checks import PLACEHOLDER_WORDS, auc, category_score, numeric_score
from scoring.data.files import read_file

WON_WORDS = ("yes", "1", "true", "won", "closed won", "converted", "win", "y", "subscribed")
LOST_WORDS = ("no", "0", "false", "lost", "closed lost", "not converted", "n", "lose")
OUTCOME_NAMES = re.compile(  # "deal_stage", "Lead Status" as well as "stage"
    r"^(y|target|label)$|(^|[ _.-])(outcome|converted|won|result|status|stage)$", re.I
)
ID_NAMES = re.compile(r"(^|[ _.-])id$|^id$|number$", re.I)
CREATED_NAMES = re.compile(
    r"creat|signup|sign_up|registered|first.?seen|lead.?date|engage.?date", re.I
)
AMOUNT_NAMES = re.compile(r"revenue|amount|deal.?value|deal.?size|close.?value", re.I)
INTENT_NAMES = re.compile(
    r"visit|click|open|download|page|email|web|activit|engag|session|time.?on|last|campaign|"
    r"contact|call|webinar|trial|demo|event|view|form|score|month|day|previous|days",
    re.I,
)
LEAK_NAMES = re.compile(  # words of columns sales fills in after contact
    r"(^|[^a-z])(duration|status|stage|disposition|quality|tags?|reason|closed?|converted|"
    r"outcome|result|notes?|won|lost)([^a-z]|$)|asymmetrique",
    re.I,
)
TITLE_NAMES = re.compile(r"title|designation|position|role", re.I)
MAX_CATEGORIES = 200


@dataclass
class Draft:
    name: str
    path: Path
    id: str | None = None
    created_at: str | None = None
    outcome: tuple[str, list[str], list[str]] | None = None
    amount: str | None = None
    fields: list[tuple[str, str, str, str]] = field(default_factory=list)  # col, kind, group, why
    leaks: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _text(values: pd.Series) -> pd.Series:
    return values.dropna().astype(str).str.strip().str.lower()


def _outcome(frame: pd.DataFrame) -> tuple[str, list[str], list[str]] | None:
    """A column of two to six values, some of them won words and some lost words: only those,
    or also open stages (Prospecting, Engaging) when its name says it is the outcome."""
    for column in sorted(frame.columns, key=lambda c: not OUTCOME_NAMES.search(str(c))):
        values = set(_text(frame[column]).unique())
        if not 2 <= len(values) <= 6:
            continue
        won = sorted(values & set(WON_WORDS))
        lost = sorted(values & set(LOST_WORDS))
        if won and lost and (OUTCOME_NAMES.search(str(column)) or values <= {*won, *lost}):
            return str(column), won, lost
    return None


def _is_date(values: pd.Series) -> bool:
    sample = values.dropna().astype(str).head(200)
    if sample.empty or sample.str.fullmatch(r"-?\d+(\.\d+)?").all():
        return False
    if sample.str.contains(r"\d{1,4}\D\d{1,2}").mean() < 0.95:  # "may" or "mon" is no date
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def _kind(column: str, values: pd.Series) -> str | None:
    present = values.dropna()
    if present.empty:
        return None
    text = _text(present)
    distinct = set(text.unique())
    if distinct <= {*WON_WORDS, *LOST_WORDS, "unknown"} and len(distinct) <= 3:
        return "boolean" if not distinct & {"unknown"} else "categorical"
    if pd.api.types.is_numeric_dtype(present):
        return "numeric"
    if pd.to_numeric(present, errors="coerce").notna().mean() >= 0.98:
        return "numeric"
    if _is_date(present):
        return "timestamp"
    if TITLE_NAMES.search(column) and len(distinct) > 20:
        return "job_title"
    if len(distinct) <= MAX_CATEGORIES or len(distinct) <= 0.05 * len(present):
        return "categorical"
    return None  # free text or an identifier: not a feature


def _separates(values: pd.Series, won: np.ndarray) -> float:
    """ROC AUC of the column alone (categories by their win rate), as the data check does."""
    numeric = pd.to_numeric(values, errors="coerce")
    known = won >= 0
    if numeric.notna().mean() >= 0.98:
        score = numeric_score(numeric[known])
    else:
        score = category_score(values[known].reset_index(drop=True), won[known])
    separation = auc(score, won[known])
    return max(separation, 1 - separation)


def draft(path: Path, name: str | None = None) -> Draft:
    frame = read_file(FileSpec(path=path))
    out = Draft(name or slug(path.stem).replace("_", "-"), path)
    used: set[str] = set()
    ids = [c for c in frame.columns if frame[c].notna().all() and frame[c].is_unique and len(frame)]
    named = [c for c in ids if ID_NAMES.search(str(c))]
    if named or ids:
        out.id = str((named or ids)[0])
    else:
        out.notes.append("no column is a unique id: a generated one (id_column: lead_id)")
    used |= {out.id} if out.id else set()
    dates = [c for c in frame.columns if c not in used and _is_date(frame[c])]
    created = [c for c in dates if CREATED_NAMES.search(str(c))]
    if created:
        out.created_at = str(created[0])
        used.add(out.created_at)
    else:
        out.notes.append(
            "no created date: folds are a random split (if the rows are in time order, add "
            "row_number_column to the file and leads.order_by)"
        )
    out.outcome = _outcome(frame.drop(columns=list(used)))
    if out.outcome is None:
        out.notes.append("no won/lost column found: set leads.outcome by hand")
    else:
        used.add(out.outcome[0])
    amounts = [
        c
        for c in frame.columns
        if c not in used
        and AMOUNT_NAMES.search(str(c))
        and pd.to_numeric(frame[c], errors="coerce").notna().any()
    ]
    if amounts:
        out.amount = str(amounts[0])
        used.add(out.amount)
    won = np.full(len(frame), -1)
    if out.outcome:
        text = frame[out.outcome[0]].astype(str).str.strip().str.lower()
        won = np.where(text.isin(out.outcome[1]), 1, np.where(text.isin(out.outcome[2]), 0, -1))
    placeholders: set[str] = set()
    for column in frame.columns:
        if column in used:
            continue
        kind = _kind(str(column), frame[column])
        if kind is None:
            out.notes.append(f"{column}: free text or an identifier, left out")
            continue
        if kind in ("categorical", "job_title"):
            placeholders |= set(_text(frame[column]).unique()) & PLACEHOLDER_WORDS
        group = "intent" if INTENT_NAMES.search(str(column)) else "fit"
        if LEAK_NAMES.search(str(column)):
            out.leaks.append((str(column), "its name says it is set after contact"))
            continue
        if (won >= 0).sum() and 0 < won[won >= 0].mean() < 1:
            auc = _separates(frame[column], won)
            if auc >= 0.9:
                out.leaks.append((str(column), f"alone separates won from lost (AUC {auc:.2f})"))
                continue
        out.fields.append((str(column), kind, group, "guessed from the name"))
    out.missing = sorted(placeholders - {"other", "unknown"})
    if placeholders & {"unknown"}:
        out.notes.append(
            '"unknown" is a value: add it to missing_values of the fields where it means missing'
        )
    return out


def _q(text: str) -> str:
    """A YAML scalar for a column name or value (quoted when it needs to be)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_. ()/-]*", text) and text.lower() not in (
        *WON_WORDS,
        *LOST_WORDS,
        "null",
        "on",
        "off",
    ):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_yaml(d: Draft, database: str) -> str:
    lines = [
        f"# Draft config for {d.path.name}, written by `leadscore init`: review every line marked",
        "# 'guess', then `leadscore data import`, `data summary` (the data check) and `train`.",
        *[f"# note: {n}" for n in d.notes],
        f"name: {d.name}",
        f"description: Drafted from {d.path.name}",
        "source:",
        f"  database: {database}",
        "  files:",
        "    leads:",
        f"      path: {_q(str(d.path))}",
    ]
    if d.id is None:
        lines.append("      id_column: lead_id  # generated: a digest of the row's values")
    if d.created_at is None:
        lines.append(
            "      # row_number_column: row  # if the rows are in time order (and order_by)"
        )
    lines += ["leads:", "  table: leads", f"  id: {_q(d.id or 'lead_id')}"]
    if d.created_at:
        lines.append(f"  created_at: {_q(d.created_at)}  # guess")
    else:
        lines.append("  # order_by: row  # folds in the file's order instead of a random split")
    if d.outcome:
        column, won, lost = d.outcome
        lines.append(
            f"  outcome: {{column: {_q(column)}, won: [{', '.join(map(_q, won))}], "
            f"lost: [{', '.join(map(_q, lost))}]}}  # guess"
        )
    if d.amount:
        lines.append(f"  revenue: {_q(d.amount)}  # guess: the deal amount of won leads")
    if d.missing:
        lines.append(f"  missing_values: [{', '.join(map(_q, d.missing))}]  # placeholders seen")
    lines.append("features:")
    for group in ("fit", "intent"):
        lines.append(f"  {group}:" + ("" if any(f[2] == group for f in d.fields) else " []"))
        for column, kind, g, why in d.fields:
            if g == group:
                lines.append(f"    - {{column: {_q(column)}, kind: {kind}}}  # {why}")
    if d.leaks:
        lines.append(
            "leaks:  # never features: move one to features if it is known before the outcome"
        )
        lines += [f"  {_q(c)}: {why}" for c, why in d.leaks]
    return "\n".join(lines) + "\n"
