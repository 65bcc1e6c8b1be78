"""CSV and Parquet exports into the lead database (`leadscore data import`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, ConfigError
from scoring.data.bulk import write_frames


def read_file(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".csv", ".txt"):
        return pd.read_csv(path)
    if suffix == ".gz" and path.name.lower().endswith(".csv.gz"):
        return pd.read_csv(path)
    raise ConfigError(f"source.files: {path} is neither CSV nor Parquet")


def import_files(cfg: Config, engine: sa.Engine) -> dict[str, int]:
    """Copy the configured CSV/Parquet exports into the lead database (tables replaced)."""
    if not cfg.source.files:
        raise ConfigError("source.files: this config lists no files to import")
    counts = {}
    for table, path in cfg.source.files.items():
        if not path.exists():
            raise ConfigError(f"source.files.{table}: file {path} does not exist")
        frame = read_file(path)
        write_table(frame, table, engine)
        counts[table] = len(frame)
    return counts


def write_table(frame: pd.DataFrame, table: str, engine: sa.Engine) -> None:
    """Replace `table` with the frame's rows (bulk path: COPY on PostgreSQL, executemany else)."""
    write_frames(engine, {table: frame})
