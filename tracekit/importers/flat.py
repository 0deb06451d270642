"""Whole-batch building blocks: flat lists of a batch's tags or references in, Arrow arrays out.

The importers flatten a batch of spans into parallel lists (one entry per tag, with the index of
the span it belongs to) and do the per-tag work here with pyarrow.compute and numpy, once per
batch, instead of a Python loop per span: only values that are not already strings go through
Python (``tag_texts``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracekit.importers.problems import BadInput, SkipLog, reject
from tracekit.importers.values import go_float, jaeger_tag_text
from tracekit.schema import STRING_MAP

_HEX = "^[0-9a-fA-F]+$"
_NOT_FLOAT = frozenset(("bool", "int64", "binary"))


def normalize_ids(raw: pa.Array, width: int) -> pa.Array:
    """Ids as ``tracekit.schema.normalize_trace_id``/``normalize_span_id`` normalise them, for a
    whole array at once: trace ids (``width`` 32) of 16 or 32 hex chars lower-cased and
    left-padded to 32, span ids (``width`` 16) of 16 hex chars lower-cased; anything else (and
    nulls) unchanged."""
    lengths = pc.utf8_length(raw)
    sized = pc.equal(lengths, 16) if width == 16 else pc.is_in(lengths, pa.array([16, 32]))
    hex_ids = pc.and_(sized, pc.match_substring_regex(raw, _HEX))
    lowered = pc.ascii_lower(raw)
    if width == 32:
        lowered = pc.utf8_lpad(lowered, width=32, padding="0")
    return pc.if_else(pc.fill_null(hex_ids, False), lowered, raw)


def bounded_int64(values: list[int], low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (Python ints, as msgspec decodes them) as int64, and a mask of those outside
    ``[low, high]`` (their value is 0): JSON integers run to 2^64, past what int64 holds."""
    try:
        numbers = np.fromiter(values, np.int64, len(values))
    except OverflowError:
        numbers = np.fromiter(
            (value if low <= value <= high else 0 for value in values), np.int64, len(values)
        )
        outside = np.fromiter((not low <= value <= high for value in values), bool, len(values))
        return numbers, outside
    outside = (numbers < low) | (numbers > high)
    numbers[outside] = 0
    return numbers, outside


def tag_texts(values: list[Any], types: Any) -> tuple[list[Any], list[int]]:
    """The text of every tag value (as ``jaeger_json._text`` renders one), and the indices of the
    values their declared type cannot hold (their text is None). ``types[i]`` is the declared type
    of value i, read only for values that are not strings, bools or ints (see TagTypes).

    Strings pass through untouched; floats in the common range are rendered by one Arrow cast;
    only the other non-string values go through Python one by one."""
    texts = values.copy()
    bad: list[int] = []
    floats: list[int] = []
    for index in [index for index, value in enumerate(values) if value.__class__ is not str]:
        value = values[index]
        cls = value.__class__
        if cls is bool:
            texts[index] = "true" if value else "false"
        elif cls is int:
            texts[index] = str(value)
        elif cls is float and (types[index] or "string").lower() not in _NOT_FLOAT:
            floats.append(index)
        else:
            try:
                texts[index] = jaeger_tag_text(types[index], value)
            except ValueError:
                texts[index] = None
                bad.append(index)
    if floats:
        numbers = np.array([values[index] for index in floats], np.float64)
        for index, text in zip(floats, float_texts(numbers), strict=True):
            texts[index] = text
    return texts, bad


def float_texts(numbers: np.ndarray) -> list[str]:
    """Doubles as ``go_float`` renders them: one Arrow cast for the common range, Python for the
    rest."""
    magnitude = np.abs(numbers)
    # Arrow writes the same shortest digits as Go here; outside it, Go's exponent rules differ
    plain = ((magnitude >= 1e-5) & (magnitude < 1e9)) | (numbers == 0)
    arrow_texts = pc.cast(pa.array(numbers), pa.string()).to_pylist()
    return [
        text if simple else go_float(number)
        for text, simple, number in zip(arrow_texts, plain.tolist(), numbers.tolist(), strict=True)
    ]


class TagTypes:
    """``types[i]``: the declared type of tag i, read from the tag only when asked."""

    def __init__(self, tags: list[Any]) -> None:
        self._tags = tags

    def __getitem__(self, index: int) -> Any:
        return self._tags[index].type


def offsets(group: np.ndarray, count: int) -> pa.Array:
    """int32 list offsets for ``count`` lists from each entry's (ascending) list index."""
    ends = np.zeros(count + 1, np.int32)
    if len(group):
        np.cumsum(np.bincount(group, minlength=count), out=ends[1:])
    return pa.array(ends)


def last_per_group(selected: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of the entries ``selected`` (ascending positions), the last of each group: (groups,
    positions). The last one wins, as in a dict built from the entries in order."""
    groups = group[selected]
    last = np.ones(len(selected), bool)
    last[:-1] = groups[1:] != groups[:-1]
    return groups[last], selected[last]


def last_texts(selected: np.ndarray, group: np.ndarray, texts: pa.Array, count: int) -> pa.Array:
    """For each of ``count`` lists, the text of its last entry among ``selected`` (a mask over
    the entries; ``group``: each entry's list index, ascending), null where it has none: the
    last one wins, as in a dict built from the entries in order."""
    lists, positions = last_per_group(np.flatnonzero(selected), group)
    source = np.full(count, -1, np.int64)
    source[lists] = positions
    return pick(texts, source)


def pick(values: pa.Array, source: np.ndarray) -> pa.Array:
    """``values[source[i]]`` for each i, null where ``source`` is -1."""
    return values.take(pa.array(source, mask=source < 0))


def sorted_map(group: np.ndarray, keys: pa.Array, values: pa.Array, count: int) -> pa.Array:
    """``count`` string maps from entries (list index, key, value), each map sorted by key; of
    repeated keys in one map the last entry wins (a dict of the entries in order, sorted)."""
    if len(keys) == 0:
        empty = pa.array([], pa.string())
        return pa.MapArray.from_arrays(offsets(group, count), empty, empty, type=STRING_MAP)
    encoded = pc.dictionary_encode(keys)
    dictionary = encoded.dictionary
    rank = np.empty(len(dictionary), np.int64)
    # Arrow orders strings by UTF-8 bytes, which is code point order, as Python's sorted()
    rank[pc.sort_indices(dictionary).to_numpy()] = np.arange(len(dictionary))
    composite = group.astype(np.int64) * len(dictionary) + rank[encoded.indices.to_numpy()]
    order = np.argsort(composite, kind="stable")
    ordered = composite[order]
    last = np.ones(len(order), bool)
    last[:-1] = ordered[1:] != ordered[:-1]
    order = order[last]
    return pa.MapArray.from_arrays(
        offsets(group[order], count), keys.take(order), values.take(order), type=STRING_MAP
    )


def flatten(lists: list[Any]) -> tuple[list[Any], np.ndarray]:
    """The items of ``lists`` in order, and the index of the list each came from."""
    counts = np.fromiter(map(len, lists), np.int64, len(lists))
    items = [item for items in lists for item in items]
    return items, np.repeat(np.arange(len(lists)), counts)


def without_bad_spans(
    batch: pa.RecordBatch,
    bad: list[int],
    unit_sizes: Sequence[int],
    check: Callable[[int, int], tuple[str, BadInput | None]],
    skips: SkipLog | None,
) -> pa.RecordBatch:
    """``batch`` (the spans of units of ``unit_sizes`` spans, in order) without the rows at
    ``bad``. Each bad span is described by ``check(unit, index in unit)``, the careful
    span-by-span check, which gives its JSON path and problem; the first is raised as BadInput,
    or every one counted in ``skips``."""
    if not bad:
        return batch
    starts = np.cumsum([0, *unit_sizes])
    for position in bad:
        unit = int(np.searchsorted(starts, position, side="right")) - 1
        where, problem = check(unit, position - int(starts[unit]))
        if problem is None:  # the batch and the careful check disagree: a bug, not bad input
            raise AssertionError(f"{where} flagged bad but passes the check")
        reject(problem, skips)
    keep = np.ones(batch.num_rows, bool)
    keep[bad] = False
    return batch.filter(pa.array(keep))


def checked_build(
    mapper: Callable[[list[Any]], tuple[pa.RecordBatch, list[int]]],
) -> Callable[[list[Any]], pa.RecordBatch]:
    """``mapper`` for items whose spans were all checked already (SpanColumns.defer): a span it
    still flags means the batch and the careful check disagree, a bug rather than bad input."""

    def build(items: list[Any]) -> pa.RecordBatch:
        batch, bad = mapper(items)
        if bad:
            raise AssertionError(f"{len(bad)} spans passed the check but not {mapper.__name__}")
        return batch

    return build
