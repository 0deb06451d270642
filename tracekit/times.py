"""Time text as users type it: durations (``90s``, ``1h30m``) and ISO-8601 times.

One parser each for the CLI commands, the simulator, the reports and the analytics. They raise
``ValueError``; each caller turns it into its own one-line ``UserError`` naming the option or
parameter, and decides which values it allows (positive, not negative).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h|d|w)")
_UNIT_SECONDS = {
    "us": 0.000001,
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}


def duration_seconds(text: str) -> float:
    """Seconds in numbers with units (us, ms, s, m, h, d, w) run together; spaces and case are
    ignored.

    >>> duration_seconds("1h30m")
    5400.0
    >>> duration_seconds("250ms")
    0.25
    """
    cleaned = str(text).strip().lower().replace(" ", "")
    position, seconds = 0, 0.0
    for match in _DURATION.finditer(cleaned):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not cleaned or position != len(cleaned):
        raise ValueError(f"not a duration: {text!r}")
    return seconds


def utc_datetime(text: str) -> datetime:
    """An ISO-8601 time as a naive UTC datetime (what the dataset stores); a time without an
    offset is taken as UTC.

    >>> utc_datetime("2026-01-05T10:00:00+01:00")
    datetime.datetime(2026, 1, 5, 9, 0)
    """
    value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return naive_utc(value)


def naive_utc(value: datetime) -> datetime:
    """``value`` as a naive UTC datetime (an aware one converted, a naive one kept)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
