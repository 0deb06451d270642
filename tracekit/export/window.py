"""Time windows for export: parse `--since 2h` / `--start T --end T`, and do interval arithmetic.

Times inside export are integer microseconds since the Unix epoch (UTC), the unit of Jaeger's
classic API and of the span schema; intervals are closed ``(start_us, end_us)`` pairs because
Jaeger's searches include both bounds.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tracekit.errors import UserError
from tracekit.times import duration_seconds, utc_datetime

Interval = tuple[int, int]
# The last microsecond a datetime (and Jaeger's RFC 3339 times) can hold: 9999-12-31T23:59:59Z.
MAX_US = 253_402_300_799_999_999


def parse_duration_us(text: str, what: str = "duration") -> int:
    """Microseconds in a duration such as ``90s``, ``15m``, ``2h``, ``1d``, ``1h30m``.

    >>> parse_duration_us("1h30m")
    5400000000
    """
    try:
        total = round(duration_seconds(text) * 1_000_000)
    except (ValueError, OverflowError):  # OverflowError: so many digits that it is infinite
        total = 0
    if total <= 0:
        raise UserError(f"{what}: {_shown(text)} is not a duration like 30s, 15m, 2h or 1d")
    if total > MAX_US:
        raise UserError(f"{what}: {_shown(text)} is longer than the calendar (years 1970 to 9999)")
    return total


def parse_time_us(text: str, what: str = "time") -> int:
    """Microseconds since the epoch of an ISO-8601 time (UTC when it has no zone), or ``now``.

    >>> parse_time_us("2026-01-01T00:00:00Z")
    1767225600000000
    """
    if text.strip().lower() == "now":
        return now_us()
    try:
        parsed = utc_datetime(text)
    except ValueError as exc:
        raise UserError(
            f"{what}: {_shown(text)} is not an ISO time like 2026-01-31T12:00:00Z"
        ) from exc
    except OverflowError:  # an offset moving it past year 1 or 9999
        raise UserError(f"{what}: {_shown(text)} is outside the years 1970 to 9999") from None
    moment = to_us(parsed.replace(tzinfo=UTC))
    if not 0 <= moment <= MAX_US:
        raise UserError(f"{what}: {_shown(text)} is outside the years 1970 to 9999")
    return moment


def _shown(text: str) -> str:
    """`text` quoted for a message, at most 60 characters of it."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def chunk_count(intervals: list[Interval], step_us: int) -> int:
    """How many pieces `split` cuts `intervals` into, without cutting them.

    >>> chunk_count([(0, 25), (30, 30)], 10)
    4
    """
    return sum(-(-(end - start + 1) // step_us) for start, end in intervals)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def now_us() -> int:
    """The current time in microseconds since the epoch."""
    return to_us(datetime.now(UTC))


def format_us(micros: int) -> str:
    """RFC 3339 UTC text with microseconds, the form Jaeger's v3 API parses."""
    seconds, fraction = divmod(micros, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:06d}Z"


def resolve_window(
    since: str | None, start: str | None, end: str | None, now: int | None = None
) -> Interval:
    """The export window from `--since` or `--start/--end` (end defaults to now).

    The user's window is half-open, [start, end); the result is the closed interval Jaeger's
    searches take, so consecutive windows (hourly runs, chunks) never share a microsecond.

    >>> resolve_window("1h", None, "2026-01-01T01:00:00Z")
    (1767225600000000, 1767229199999999)
    """
    current = now_us() if now is None else now
    if since is not None and start is not None:
        raise UserError("--since and --start are alternatives; give one of them")
    end_us = parse_time_us(end, "--end") if end is not None else current
    if since is not None:
        start_us = end_us - parse_duration_us(since, "--since")
    elif start is not None:
        start_us = parse_time_us(start, "--start")
    else:
        raise UserError("give the window to export: --since 2h, or --start T [--end T]")
    if start_us < 0:
        raise UserError(f"--since {since}: the window would start before 1970-01-01")
    if start_us >= end_us:
        raise UserError(
            f"empty window: --start {format_us(start_us)} is not before --end {format_us(end_us)}"
        )
    return start_us, end_us - 1


def merge(intervals: list[Interval]) -> list[Interval]:
    """Sorted, disjoint intervals covering the same time (touching ones are joined).

    >>> merge([(5, 9), (1, 3), (3, 4), (8, 12)])
    [(1, 4), (5, 12)]
    """
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def subtract(window: Interval, done: list[Interval]) -> list[Interval]:
    """The parts of `window` not covered by `done`.

    >>> subtract((0, 100), [(10, 20), (50, 200)])
    [(0, 9), (21, 49)]
    """
    remaining: list[Interval] = []
    cursor, end = window
    for done_start, done_end in merge(done):
        if done_end < cursor or done_start > end:
            continue
        if done_start > cursor:
            remaining.append((cursor, done_start - 1))
        cursor = max(cursor, done_end + 1)
        if cursor > end:
            break
    if cursor <= end:
        remaining.append((cursor, end))
    return remaining


def split(interval: Interval, step_us: int) -> list[Interval]:
    """Consecutive sub-intervals of at most `step_us` that tile `interval`.

    >>> split((0, 25), 10)
    [(0, 9), (10, 19), (20, 25)]
    """
    start, end = interval
    pieces = []
    while start <= end:
        pieces.append((start, min(end, start + step_us - 1)))
        start += step_us
    return pieces


def halve(interval: Interval) -> list[Interval]:
    """Two halves of an interval (one piece when it is a single microsecond)."""
    start, end = interval
    if start >= end:
        return [interval]
    middle = (start + end) // 2
    return [(start, middle), (middle + 1, end)]
