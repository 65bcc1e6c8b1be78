"""Raw values into typed values, a column at a time: ids and text, timestamps (naive UTC),
numbers and yes/no values. Each parser returns the values and a mask of the ones it could not
read, so the table checks (`validation`) can say which field failed and why."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from scoring.config import BooleanField
from scoring.data.arrays import MANY, per_distinct

NAT = np.datetime64("NaT", "us")
NUMERIC_DATE = r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}(?!\d)"


def column_array(values: pd.Series) -> np.ndarray:
    """A frame column as the array the checks take: numpy dtypes stay, timezone-aware dates
    become naive UTC, extension types (nullable ints, strings) become objects."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(None).to_numpy()
    if isinstance(values.dtype, np.dtype):
        return values.to_numpy()
    if pd.api.types.is_float_dtype(values.dtype) and not pd.api.types.is_extension_array_dtype(
        values.dtype
    ):
        return values.to_numpy()
    return values.to_numpy(dtype=object)


def as_text(value: object, strip: bool = True) -> str | None:
    """A value as text (what `astype("string")` gives), None when missing."""
    if type(value) is str:
        return value.strip() if strip else value
    if value is None or pd.isna(value):
        return None
    return str(value).strip() if strip else str(value)


def _strings(values: np.ndarray, strip: bool = True) -> np.ndarray:
    """The values as text (objects, stripped when `strip`), None where missing."""
    return per_distinct(values, as_text if strip else lambda v: as_text(v, strip=False))


def id_text(value: object) -> str | None:
    """A raw lead id as text: stripped, a whole float without decimals (an id column the driver
    reads as REAL or a frame as float64: 42.0 is lead "42"), None when missing or blank."""
    if isinstance(value, float) and value == value:
        return f"{value:.0f}"
    return as_text(value) or None


def id_texts(values: np.ndarray) -> np.ndarray:
    return per_distinct(values, id_text)


def _text(values: np.ndarray) -> np.ndarray:
    """Stripped strings (objects), None where missing: the values as text."""
    return _strings(values)


def _all_none(values: np.ndarray) -> bool:
    return values.dtype == object and all(v is None for v in values.tolist())


def _blank(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fiubmM":
        return np.asarray(pd.isna(values), dtype=bool)
    return np.array([v is None or v == "" for v in _text(values)], dtype=bool)


def _many_strings(values: np.ndarray) -> bool:
    return len(values) >= MANY and pd.api.types.infer_dtype(values, skipna=True) == "string"


def parse_timestamps(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Naive UTC timestamps (datetime64[us]) and a mask of values present but not dates."""
    if values.dtype.kind == "M":
        return values.astype("datetime64[us]"), np.zeros(len(values), dtype=bool)
    if _all_none(values):  # e.g. the history columns of a lead posted in real time
        return np.full(len(values), NAT), np.zeros(len(values), dtype=bool)
    parsed = np.full(len(values), NAT)
    rest = np.arange(len(values))
    if _many_strings(values):
        # strict ISO 8601 parses in C, as the per-value format guess below would; what it
        # rejects (blanks, other formats, bad dates) takes that slower way
        iso = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
        parsed = iso.tz_convert(None).as_unit("us").to_numpy().copy()
        rest = np.flatnonzero(np.isnat(parsed))
    present = rest[~np.asarray(pd.isna(values[rest]), dtype=bool)]
    stamps = values[present].tolist()
    if all(type(v) is datetime for v in stamps):  # e.g. PostgreSQL, a JSON request
        parsed[present] = _datetimes(stamps)
    else:
        present = present[~_blank(values[present])]
        text = _strings(values[present], strip=False)
        day_first, unclear = numeric_date_order(text)
        found = pd.to_datetime(text, errors="coerce", utc=True, format="mixed", dayfirst=day_first)
        parsed[present] = found.tz_convert(None).as_unit("us").to_numpy()
        parsed[present[unclear]] = NAT
    bad = np.zeros(len(values), dtype=bool)
    bad[present] = np.isnat(parsed[present])
    return parsed, bad


def numeric_date_order(text: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether the numeric dates among `text` (20/10/2016, 03.04.2025) put the day first, and
    which of them cannot be read. pandas reads each value on its own: 20/10/2016 as the 20th of
    October but 01/11/2016 as the 11th of January, so a day-first export would be half misread.
    The order is the column's: day first when some value's first number is over 12 and no
    value's second is. When both occur the column mixes orders, and its values that read
    either way (03/04 but not 04/04) are unreadable rather than guessed."""
    parts = pd.Series(text, dtype=object).str.extract(NUMERIC_DATE).astype(float).to_numpy()
    first, second = parts[:, 0], parts[:, 1]
    day_evidence, month_evidence = bool((first > 12).any()), bool((second > 12).any())
    if day_evidence and month_evidence:
        return False, np.flatnonzero((first <= 12) & (second <= 12) & (first != second))
    return day_evidence, np.array([], dtype=np.intp)


def _datetimes(stamps: list[datetime]) -> np.ndarray:
    """Datetimes as naive UTC (naive ones are UTC already): what `pd.to_datetime(str(stamp),
    utc=True)` gives, without the string round trip."""
    if len(stamps) < MANY:  # a request's few: a loop costs less than a call into pandas
        return np.array([_naive_utc(v) for v in stamps], dtype="datetime64[us]")
    found = pd.to_datetime(np.asarray(stamps, dtype=object), utc=True)
    return found.tz_convert(None).as_unit("us").to_numpy()


def _naive_utc(stamp: datetime) -> np.datetime64:
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(stamp, "us")


_NUMBERS = ("integer", "floating", "mixed-integer-float", "empty")


def parse_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Floats and a mask of values present but not numbers."""
    if values.dtype.kind in "fiu":
        return values.astype("float64"), np.zeros(len(values), dtype=bool)
    if _all_none(values):
        return np.full(len(values), np.nan), np.zeros(len(values), dtype=bool)
    parsed = np.full(len(values), np.nan)
    if pd.api.types.infer_dtype(values, skipna=True) in _NUMBERS:  # numbers and missing only
        present = ~np.asarray(pd.isna(values), dtype=bool)
        parsed[present] = values[present].astype("float64")
        return parsed, np.zeros(len(values), dtype=bool)
    blank = _blank(values)
    other = []
    for i, v in enumerate(values.tolist()):
        if blank[i]:
            continue
        if isinstance(v, int | float) and not isinstance(v, bool):
            parsed[i] = float(v)
        else:
            other.append(i)
    if other:
        parsed[other] = pd.to_numeric(values[other], errors="coerce").astype("float64")
    return parsed, ~blank & np.isnan(parsed)


def lowered_text(value: object) -> str | None:
    text = as_text(value)
    return None if text is None else text.lower()


def parse_booleans(values: np.ndarray, field: BooleanField) -> tuple[np.ndarray, np.ndarray]:
    """1.0 / 0.0 / NaN and a mask of values that are neither a true nor a false value."""
    true_values = {v.lower() for v in field.true_values}
    false_values = {v.lower() for v in field.false_values}
    text = per_distinct(values, lowered_text)
    truthy = np.array([v in true_values for v in text], dtype=bool)
    falsy = np.array([v in false_values for v in text], dtype=bool)
    parsed = np.where(truthy, 1.0, np.where(falsy, 0.0, np.nan))
    blank = np.array([v is None or v == "" for v in text], dtype=bool)
    return parsed, (~blank & ~truthy & ~falsy)


def parse_text(values: np.ndarray) -> np.ndarray:
    """Stripped strings, NaN for missing or empty (objects)."""
    return per_distinct(values, lambda v: as_text(v) or np.nan)


def without_placeholders(values: np.ndarray, placeholders: frozenset[str]) -> np.ndarray:
    """The values with the configured placeholders (a form's "Select", "unknown", "n/a") made
    missing; compared as stripped text, case-insensitively."""
    if not placeholders:
        return values

    def keep(value: object) -> object:
        if isinstance(value, int | float | np.number) and not isinstance(value, bool):
            text = None if value != value else f"{value:g}"  # 999.0 is the placeholder 999
        else:
            text = as_text(value)
        return None if text is not None and text.lower() in placeholders else value

    return per_distinct(np.asarray(values, dtype=object), keep)
