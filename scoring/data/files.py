"""Export files into the lead database (`leadscore data import`): CSV as real exports write it
(`;`, tab or `|` separated, quoted, UTF-8 with a BOM or Latin-1), Excel and Parquet.

Validation types the values later, per the config, and keeps what it cannot read in the error
table.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.config import Config, ConfigError
from scoring.config.source import FileSpec
from scoring.data.bulk import write_frames
from scoring.data.parse import NUMERIC_DATE, numeric_date_order, parse_timestamps

DELIMITERS = ",;\t|"
TEXT_SUFFIXES = (".csv", ".txt", ".tsv", ".csv.gz", ".txt.gz", ".tsv.gz")
_SAMPLE = 64 * 1024


def file_format(spec: FileSpec) -> str:
    if spec.format != "auto":
        return spec.format
    name = spec.path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".xlsx", ".xlsm")):
        return "excel"
    if name.endswith(TEXT_SUFFIXES):
        return "csv"
    raise ConfigError(
        f"source.files: cannot tell the format of {spec.path} from its name; set `format:` "
        "(csv, excel or parquet)"
    )


def _head(path: Path) -> bytes:
    if path.name.lower().endswith(".gz"):
        import gzip

        with gzip.open(path) as raw:
            return raw.read(_SAMPLE)
    with path.open("rb") as raw:
        return raw.read(_SAMPLE)


def text_encoding(spec: FileSpec, head: bytes) -> str:
    """The configured encoding; else UTF-8 (with its BOM dropped) when the file reads as UTF-8,
    else Latin-1 (which reads any byte)."""
    if spec.encoding:
        return spec.encoding
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "latin-1"
    return "utf-8"


def delimiter(spec: FileSpec, text: str) -> str:
    """The configured delimiter, else the one of `,;<tab>|` that splits the header and the first
    rows into the same number of fields, most of them."""
    if spec.delimiter:
        return spec.delimiter
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the last line of the sample may be cut
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: next(csv.reader(lines[:1], delimiter=d), []) for d in DELIMITERS}
        return max(counts, key=lambda d: len(counts[d])) if lines else ","


def read_text(spec: FileSpec) -> pd.DataFrame:
    head = _head(spec.path)
    encoding = text_encoding(spec, head)
    sep = delimiter(spec, head.decode(encoding, errors="replace"))
    try:
        frame = pd.read_csv(
            spec.path,
            sep=sep,
            quotechar=spec.quotechar,
            encoding=encoding,
        )
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"source.files: {spec.path} is not {encoding} ({exc.reason} at byte {exc.start}); "
            "set `encoding:` (e.g. latin-1)"
        ) from None
    except pd.errors.EmptyDataError:
        raise ConfigError(
            f"source.files: {spec.path} is empty (not even a header row): export it again"
        ) from None
    except pd.errors.ParserError as exc:
        raise ConfigError(
            f"source.files: {spec.path} does not read as {sep!r}-separated ({exc}); "
            "set `delimiter:` or `quotechar:`"
        ) from None
    _check_columns(spec, frame, sep)
    return frame


def _check_columns(spec: FileSpec, frame: pd.DataFrame, sep: str) -> None:
    """One column whose name holds a delimiter is a file read with the wrong separator."""
    if len(frame.columns) == 1:
        name = str(frame.columns[0])
        other = [d for d in DELIMITERS if d != sep and d in name]
        if other:
            raise ConfigError(
                f"source.files: {spec.path} read as one column named {name[:60]!r}: it looks "
                f"{other[0]!r}-separated; set `delimiter: {other[0]!r}`"
            )


def read_file(spec: FileSpec) -> pd.DataFrame:
    kind = file_format(spec)
    if kind == "parquet":
        frame = pd.read_parquet(spec.path)
    elif kind == "excel":
        frame = pd.read_excel(spec.path, sheet_name=spec.sheet)
    else:
        frame = read_text(spec)
    if frame.empty:
        raise ConfigError(
            f"source.files: {spec.path} has no rows, only a header: nothing was read from it "
            "(export it again with its rows)"
        )
    if spec.id_column:
        frame = with_row_ids(frame, spec.id_column)
    if spec.row_number_column:
        _new_column(spec.row_number_column, frame, "row_number_column")
        frame = frame.assign(**{spec.row_number_column: range(1, len(frame) + 1)})
    return frame


def _new_column(name: str, frame: pd.DataFrame, key: str) -> None:
    if name in frame.columns:
        raise ConfigError(
            f"source.files: {key} {name!r} is already a column of the file; name it differently"
        )


def with_row_ids(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """A lead id for an export without one: the first 16 hex digits of a SHA-256 of the row's
    values (so the id survives re-exports and reordering), with `-2`, `-3`... appended to the
    2nd, 3rd... copy of an identical row (identical rows stay distinct leads, as the file has
    them)."""
    _new_column(column, frame, "id_column")
    text = frame.astype(str).where(frame.notna(), "")
    joined = text.apply(lambda row: "\x1f".join(row), axis=1)
    digests = joined.map(lambda row: hashlib.sha256(row.encode()).hexdigest()[:16])
    repeat = digests.groupby(digests).cumcount() + 1
    ids = digests.where(repeat == 1, digests + "-" + repeat.astype(str))
    return frame.assign(**{column: ids})


def import_files(cfg: Config, engine: sa.Engine) -> dict[str, int]:
    """Copy the configured exports into the lead database (tables replaced, all in one
    transaction once every file has been read: a file that cannot be read changes no table)."""
    if not cfg.source.files:
        raise ConfigError("source.files: this config lists no files to import")
    frames = {}
    for table, spec in cfg.source.files.items():
        if not spec.path.exists():
            raise ConfigError(f"source.files.{table}: file {spec.path} does not exist")
        frames[table] = iso_dates(read_file(spec))
    write_frames(engine, frames)
    return {table: len(frame) for table, frame in frames.items()}


def iso_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns of numeric dates (20/10/2016, 10/20/2016 10:30) rewritten as ISO 8601, their
    day and month order read from the whole file (`numeric_date_order`): SQL reads ISO dates
    (the funnel report's months; PostgreSQL's cast refuses 20/10/2016), and a later read of a
    few of the rows cannot take a day-first file's 01/11/2016 for the 11th of January. A
    column that mixes both orders, and the values of a column that are not dates, are kept as
    they are: validation reports them."""
    dates = {}
    for column in frame.columns:
        if not (frame[column].dtype == object or isinstance(frame[column].dtype, pd.StringDtype)):
            continue
        text = frame[column].astype("string").str.strip()
        if not text.dropna().head(1000).str.match(NUMERIC_DATE).any():
            continue  # not a column of numeric dates, as its first values show
        numeric = text.str.match(NUMERIC_DATE).fillna(False).to_numpy(dtype=bool)
        if numeric.sum() * 2 <= text.notna().sum() or len(
            numeric_date_order(text[numeric].to_numpy(dtype=object))[1]
        ):
            continue
        parsed, _ = parse_timestamps(text[numeric].to_numpy(dtype=object))
        iso = pd.Series(parsed).dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(dtype=object)
        values = frame[column].to_numpy(dtype=object).copy()
        values[np.flatnonzero(numeric)[~np.isnat(parsed)]] = iso[~np.isnat(parsed)]
        dates[column] = values
    return frame.assign(**dates)


def write_table(frame: pd.DataFrame, table: str, engine: sa.Engine) -> None:
    """Replace `table` with the frame's rows (bulk path: COPY on PostgreSQL, executemany else)."""
    write_frames(engine, {table: frame})
