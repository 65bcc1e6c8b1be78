"""Array helpers shared by validation, features, the model encoder and the replay.

Text columns repeat a few values (lead ids per event, categories, event types, titles), so a
function of each value is computed once per distinct value and spread back by index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

MANY = 2048  # from this many values, hashing them beats a Python loop over each


def within_groups(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each of consecutive groups of `counts` rows: [2, 3] -> 0 1 0 1 2."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def objects(values: Iterable[object], n: int | None = None) -> np.ndarray:
    """A 1-d object array of `n` values (all of a sized `values` by default), whatever they
    are (tuples stay elements)."""
    return np.fromiter(values, dtype=object, count=len(values) if n is None else n)


def distinct(values: np.ndarray) -> tuple[list[object], np.ndarray]:
    """The distinct values of an array (a value may repeat) and, per value, its position among
    them: `values[i]` equals `uniques[inverse[i]]`, same type included. Many values are merged
    only when they are text (or missing): a hash table, and ==, hold 1, 1.0 and True as one
    value, str() does not."""
    if len(values) >= MANY and values.dtype == object:
        found = _runs(values) or _hashed(values)
        if found is not None:
            return found
    return values.tolist(), np.arange(len(values))


def _runs(values: np.ndarray) -> tuple[list[object], np.ndarray] | None:
    """One value per run of equal text: text read in key order (events by lead) repeats so."""
    try:
        change = values[1:] != values[:-1]
    except (TypeError, ValueError):  # pd.NA compares as neither
        return None
    starts = np.flatnonzero(np.concatenate(([True], change)))
    if len(starts) > len(values) // 4 or not _text(values[starts]):
        return None
    runs = np.diff(np.append(starts, len(values)))
    return values[starts].tolist(), np.repeat(np.arange(len(starts)), runs)


def _hashed(values: np.ndarray) -> tuple[list[object], np.ndarray] | None:
    """Distinct text found by hashing every value."""
    try:
        inverse, found = pd.factorize(values)
    except TypeError:  # unhashable values
        return None
    if not _text(found):
        return None
    uniques = found.tolist()
    missing = np.flatnonzero(inverse < 0)
    if len(missing):  # None, NaN, NA: one entry per kind of missing value
        kinds: dict[type, int] = {}
        for i in missing.tolist():
            value = values[i]
            k = kinds.get(type(value))
            if k is None:
                k = kinds[type(value)] = len(uniques)
                uniques.append(value)
            inverse[i] = k
    return uniques, inverse


def _text(values: np.ndarray) -> bool:
    """Whether every value is text or missing."""
    return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def per_distinct(values: np.ndarray, func: Callable[[object], object], dtype=object) -> np.ndarray:
    """`[func(v) for v in values]` as an array, computed once per distinct value."""
    uniques, inverse = distinct(values)
    if dtype is object:
        return objects(map(func, uniques), len(uniques))[inverse]
    return np.array([func(u) for u in uniques], dtype=dtype)[inverse]


def lookup(values: np.ndarray, mapping: Mapping, default: object, dtype=object) -> np.ndarray:
    """`mapping.get(v, default)` of each value, as an array."""
    return per_distinct(values, lambda v: mapping.get(v, default), dtype)
