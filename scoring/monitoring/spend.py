"""Marketing spend per source and month (`report.spend`, `report.spend_file`), spread over the
months a funnel report covers.

An entry with a month is spend in that month; an entry without one is a monthly budget, spent in
every month the report covers. Entries add up: a monthly budget and a one-off campaign on the same
source in March are both March's spend. The months covered run without gaps from the earliest to
the latest of the months leads were created in and the months entries name, so spend in a month
without leads is still counted (it produced no SQLs).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from scoring.config import ConfigError
from scoring.config.report import ReportSpec, SpendEntry

SPEND_COLUMNS = ("source", "month", "amount")


def spend_entries(spec: ReportSpec) -> list[SpendEntry]:
    """The config's spend entries, then the spend file's rows (validated like the config's)."""
    entries = list(spec.spend)
    if spec.spend_file is not None:
        entries += read_spend_file(spec.spend_file)
    return entries


def read_spend_file(path: Path) -> list[SpendEntry]:
    """Rows of a spend CSV (columns source, month (YYYY-MM, empty: every month), amount); a bad
    row stops the report with its line number and what is wrong."""
    key = "report.spend_file"
    if not path.is_file():
        raise ConfigError(f"{key}: {path} does not exist")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        names = [(name or "").strip().lower() for name in reader.fieldnames or []]
        missing = [c for c in SPEND_COLUMNS if c != "month" and c not in names]
        if missing:
            raise ConfigError(
                f"{key}: {path} has no column {missing[0]!r} (columns: {names}); expected "
                "source, month (YYYY-MM, empty for every month), amount"
            )
        entries = []
        for line, row in enumerate(reader, start=2):
            values = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            if not any(values.values()):
                continue  # a blank line
            try:
                entries.append(
                    SpendEntry(
                        source=values["source"],
                        month=values.get("month") or None,
                        amount=values["amount"],
                    )
                )
            except ValidationError as exc:
                error = exc.errors()[0]
                field = ".".join(str(p) for p in error["loc"])
                raise ConfigError(f"{key}: {path} line {line}: {field}: {error['msg']}") from None
    return entries


def covered_months(lead_months: list[str], entries: list[SpendEntry]) -> list[str]:
    """Every month (YYYY-MM) from the earliest to the latest of `lead_months` and the months the
    entries name; empty when there are none."""
    named = [m for m in lead_months if m] + [e.month for e in entries if e.month]
    if not named:
        return []
    periods = pd.period_range(min(named), max(named), freq="M")
    return [str(p) for p in periods]


def monthly_spend(entries: list[SpendEntry], months: list[str]) -> pd.DataFrame:
    """Spend per (source, month) over `months`: columns source, month, amount (summed)."""
    rows = []
    for entry in entries:
        for month in [entry.month] if entry.month else months:
            rows.append((entry.source, month, float(entry.amount)))
    frame = pd.DataFrame(rows, columns=list(SPEND_COLUMNS))
    return frame.groupby(["source", "month"], as_index=False, sort=True)["amount"].sum()
