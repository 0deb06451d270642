"""Limits a user puts on a query: its memory (``--memory-limit`` / ``TRACEKIT_MEMORY_LIMIT``)
and its time (``tracekit sql --timeout``).

One parser for each, used by the command line and by the report notebooks' kernels (which get
the memory limit through the environment the ``tracekit report`` process hands them). They raise
``UserError`` naming where the value came from.
"""

from __future__ import annotations

import math
import os
import re

from tracekit.connect import MEMORY_LIMIT_ENV
from tracekit.errors import UserError

__all__ = [
    "MEMORY_LIMIT_ENV",
    "memory_bytes",
    "memory_limit",
    "memory_limit_from_env",
    "timeout_seconds",
]

# DuckDB's own size units (https://duckdb.org/docs/configuration/overview: memory_limit).
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|bytes|kb|mb|gb|tb|kib|mib|gib|tib)", re.IGNORECASE)
_UNIT_BYTES = {
    "b": 1,
    "bytes": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
# Below this DuckDB cannot even bind the views (measured: 'SELECT 1' on a dataset needs ~2 MB).
_MIN_MEMORY_BYTES = 16 * 10**6
# A day: longer than any interactive query, short of what a float second count overflows.
_MAX_TIMEOUT_S = 86_400.0


def memory_limit(text: str | None, *, name: str = "--memory-limit") -> str | None:
    """A memory limit as DuckDB takes it (``"2GB"``, ``"512MiB"``), checked; None for none.

    >>> memory_limit("2 gb")
    '2GB'
    >>> memory_limit("") is None
    True
    """
    if text is None or not str(text).strip():
        return None
    match = _SIZE.fullmatch(str(text).strip())
    if match is None:
        raise UserError(
            f"{name}: expected a size like 512MB, 4GB or 2GiB, got {str(text).strip()!r}"
        )
    number, unit = float(match.group(1)), match.group(2).lower()
    if number * _UNIT_BYTES[unit] < _MIN_MEMORY_BYTES:
        raise UserError(f"{name}: {text.strip()} is too little for DuckDB; give 16MB or more")
    return f"{match.group(1)}{unit.upper() if unit != 'bytes' else 'B'}".replace("IB", "iB")


def memory_bytes(limit: str) -> int:
    """The bytes a checked memory limit stands for.

    >>> memory_bytes("1GB")
    1000000000
    """
    match = _SIZE.fullmatch(limit.strip())
    if match is None:
        raise ValueError(f"not a memory size: {limit!r}")
    return int(float(match.group(1)) * _UNIT_BYTES[match.group(2).lower()])


def memory_limit_from_env() -> str | None:
    """The memory limit ``TRACEKIT_MEMORY_LIMIT`` sets, checked; None when unset or empty."""
    return memory_limit(os.environ.get(MEMORY_LIMIT_ENV), name=MEMORY_LIMIT_ENV)


def timeout_seconds(value: float | None, *, name: str = "--timeout") -> float | None:
    """A query timeout in seconds, checked: positive, finite, at most a day; None for none."""
    if value is None:
        return None
    if not (math.isfinite(value) and 0 < value <= _MAX_TIMEOUT_S):
        raise UserError(
            f"{name}: expected a positive number of seconds up to {_MAX_TIMEOUT_S:g}, got {value:g}"
        )
    return float(value)
