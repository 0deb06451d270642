"""When each component saturates, how sure that is, and which saturates first.

A component saturates at the load multiplier where its busiest period's utilization reaches 1
(its queue then grows without end). A caller that waits for a callee saturates no later than
it: its latency diverges with the callee's queue. A component whose limit is unknown has no
saturation of its own, only a lower bound (with just the workers seen at once), and inherits
its callees'. The band comes from the data's own variation: the busiest period's arrival count
is a Poisson sample (relative error 1/sqrt(n)) and its mean service time one of n draws
(cv / sqrt(n)); together sqrt((1 + cv^2) / n), at 90%.

>>> point = SaturationPoint("db", 2.0, 1.6, 2.6, "own", 3.2)
>>> describe(point, max_multiplier=10)
'2.00x (1.60-2.60), 3.2 requests/s'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracekit.capacity.limits import Limit
from tracekit.capacity.replay import Replayer, _cv2

MAX_MULTIPLIER = 1e6
TOLERANCE = 1e-3  # relative precision of saturation multipliers
BAND_Z = 1.645  # 90% two-sided


@dataclass(frozen=True)
class SaturationPoint:
    """One component's saturation.

    ``multiplier`` (None: not reached below MAX_MULTIPLIER) with its band ``low``-``high``;
    ``kind``: "own" (its own limit), "callee" (it waits for ``via``, which saturates first),
    "at least" (its limit is unknown: ``multiplier`` is where it would saturate with only the
    workers seen at once, a lower bound), "none" (no arrivals, or never within the search);
    ``rate_per_s``: its arrival rate at that load in the busiest period.
    """

    component: str
    multiplier: float | None
    low: float | None
    high: float | None
    kind: str
    rate_per_s: float | None = None
    via: str | None = None


def describe(point: SaturationPoint, max_multiplier: float, workers_seen: int = 0) -> str:
    """The saturation point in words, e.g. '2.62x (2.31-3.03), 3.30 requests/s'.

    >>> describe(SaturationPoint("db", 20.0, 16.0, 26.0, "own", 32.0), max_multiplier=10)
    '20.00x (16.00-26.00), 32 requests/s: not reached within the multipliers'
    >>> describe(SaturationPoint("api", 3.0, 2.5, 3.9, "at least", 6.0), 10, workers_seen=4)
    'limit unknown: with only the 4 workers seen at once, 3.00x'
    """
    if point.multiplier is None:
        if point.kind == "at least":
            return "limit unknown: not reached even with only the workers seen at once"
        return "not reached within the multipliers"
    if point.kind == "at least":
        text = (
            f"limit unknown: with only the {workers_seen} worker"
            f"{'s' if workers_seen != 1 else ''} seen at once, {point.multiplier:.2f}x"
        )
    else:
        text = f"{point.multiplier:.2f}x ({point.low:.2f}-{_high(point.high)})"
        if point.kind == "callee":
            text += f" with {point.via}, which it waits for"
        elif point.rate_per_s is not None:
            text += f", {point.rate_per_s:.3g} requests/s"
    if point.multiplier > max_multiplier:
        text += ": not reached within the multipliers"
    return text


def _high(value: float | None) -> str:
    return "inf" if value is None or not math.isfinite(value) else f"{value:.2f}"


def saturation_points(
    replayer: Replayer, workers: np.ndarray, limits: list[Limit]
) -> tuple[list[SaturationPoint], dict[int, float]]:
    """Every component's saturation point (a caller saturates no later than a callee it waits
    for), and for components whose limit is unknown, where they would saturate with only the
    workers seen at once (a lower bound)."""
    points: dict[int, SaturationPoint] = {}
    bounds: dict[int, float] = {}
    for s in replayer.order:  # callees first
        name = replayer.services[s]
        reached = [
            points[c]
            for c in replayer.closure(s)
            if c != s and points[c].kind in ("own", "callee") and points[c].multiplier is not None
        ]
        earliest = min(reached, key=lambda p: p.multiplier or math.inf) if reached else None
        found = own_saturation(
            replayer, s, workers, earliest.multiplier if earliest is not None else None
        )
        own = None
        if found is not None:
            multiplier, count, cv2, rate = found
            low, high = band(multiplier, count, cv2)
            kind = "own" if limits[s].known else "at least"
            own = SaturationPoint(name, multiplier, low, high, kind, rate)
            if not limits[s].known:
                bounds[s] = multiplier
            if (
                kind == "own"
                and earliest is not None
                and earliest.multiplier is not None
                and multiplier < earliest.multiplier
                and _caused_by_callees(replayer, s, workers, earliest.multiplier)
            ):
                own = None  # its workers run out only as the callee's queue grows: the callee's
        if (
            earliest is not None
            and earliest.multiplier is not None
            and (
                own is None
                or own.kind == "at least"
                or earliest.multiplier <= (own.multiplier or 0)
            )
        ):
            points[s] = SaturationPoint(
                name,
                earliest.multiplier,
                earliest.low,
                earliest.high,
                "callee",
                earliest.multiplier * float(replayer.rates[s].max()),
                earliest.via or earliest.component,
            )
        else:
            points[s] = own or SaturationPoint(name, None, None, None, "none")
    return [points[s] for s in range(len(replayer.services))], bounds


def _caused_by_callees(replayer: Replayer, s: int, workers: np.ndarray, callee_at: float) -> bool:
    """Whether service ``s``, found to saturate before a callee does (at ``callee_at``), does so
    only because its callees slow down: with their observed times it would not saturate until
    after the callee. A caller holding a worker while its callee works (thread-per-request) runs
    out of workers as the callee's queue grows, a little before the callee's own utilization
    reaches 1: that saturation is the callee's, and the callee is the one to name."""
    alone = own_saturation(replayer, s, workers, alone=True)
    return alone is None or alone[0] > callee_at


def band(multiplier: float, count: float, cv2: float) -> tuple[float, float]:
    """The 90% band of a saturation multiplier from the busiest period's arrivals and the
    service times' variability.

    >>> [round(v, 2) for v in band(2.0, 100, 0.0)]
    [1.72, 2.39]
    """
    relative = math.sqrt((1.0 + max(cv2, 0.0)) / max(count, 1.0))
    low = multiplier / (1.0 + BAND_Z * relative)
    high = multiplier / (1.0 - BAND_Z * relative) if BAND_Z * relative < 1 else math.inf
    return low, high


def own_saturation(
    replayer: Replayer,
    s: int,
    workers: np.ndarray,
    ceiling: float | None = None,
    *,
    alone: bool = False,
) -> tuple[float, float, float, float] | None:
    """(multiplier, arrivals in the busiest period, cv^2 of service, arrival rate there at that
    multiplier) where service ``s``'s busiest period reaches utilization 1, its callees'
    slow-down included (``alone``: their times as observed); None when it has no arrivals or
    never saturates."""
    if replayer.arrivals[s].sum() == 0:
        return None
    chain = [s] if alone else replayer.closure(s)
    seen: dict[float, np.ndarray] = {}

    def utilization(m: float) -> np.ndarray:
        if m not in seen:
            seen[m] = replayer.run(m, workers, services=chain).utilization[s]
        return seen[m]

    def peak(m: float) -> float:
        util = utilization(m)
        return float(util[replayer.arrivals[s] > 0].max())

    base = peak(1.0)
    if not base < 1.0:
        low, high = 0.0, 1.0
    elif base <= 0:
        return None
    else:
        # Busy time grows about linearly with load, and callees' slow-down only adds to it, so
        # the linear estimate is an upper bound and the answer is usually just below it.
        high = 1.0 / base
        if ceiling is not None and 1.0 < ceiling < high:
            high = ceiling
        while peak(high) < 1.0:
            high *= 1.5
            if high > MAX_MULTIPLIER:
                return None
        low = high * 0.9
        while low > 1.0 and not peak(low) < 1.0:
            low *= 0.7
        low = max(low, 1.0)
    # Illinois (regula falsi that halves a stale end's weight): the peak utilization is almost
    # linear in the multiplier, so this needs a few replays where bisection needs ten or more.
    f_low, f_high = peak(low) - 1.0, peak(high) - 1.0
    side = 0
    answer = (low + high) / 2.0
    for _ in range(60):
        if high - low <= TOLERANCE * high:
            answer = (low + high) / 2.0
            break
        if math.isfinite(f_high) and f_high > f_low:
            mid = high - f_high * (high - low) / (f_high - f_low)
            mid = min(max(mid, low + 1e-9 * high), high - 1e-9 * high)
        else:
            mid = (low + high) / 2.0
        f_mid = peak(mid) - 1.0
        if abs(f_mid) < TOLERANCE / 10:
            answer = mid
            break
        if f_mid < 0:
            low, f_low = mid, f_mid
            if side == -1 and math.isfinite(f_high):
                f_high /= 2.0
            side = -1
        else:
            high, f_high = mid, f_mid
            if side == 1:
                f_low /= 2.0
            side = 1
    util = utilization(answer)
    busiest = int(np.argmax(np.where(replayer.arrivals[s] > 0, util, -np.inf)))
    count = float(replayer.arrivals[s][busiest])
    held = replayer.service_time(s)
    rate = answer * float(replayer.rates[s][busiest])
    return answer, count, _cv2(held), rate


@dataclass(frozen=True)
class FirstToSaturate:
    """Which component saturates first, and what could come earlier.

    ``component`` (None when no component with a known limit saturates) at ``multiplier``
    (band ``low``-``high``); ``could_be_earlier``: components whose limit is unknown and that,
    with only the workers seen at once, would saturate before it (name, multiplier);
    ``sentence``: the answer in words.
    """

    component: str | None
    multiplier: float | None
    low: float | None
    high: float | None
    could_be_earlier: list[tuple[str, float]]
    sentence: str


def first_to_saturate(
    replayer: Replayer,
    points: list[SaturationPoint],
    bounds: dict[int, float],
    limits: list[Limit],
) -> FirstToSaturate:
    """The component whose own limit is reached at the lowest load (ties: the callee, which
    causes its callers' saturation); components whose limit the data does not show are named
    when, with only the workers seen, they could saturate earlier."""
    own = [
        s for s in replayer.order if points[s].kind == "own" and points[s].multiplier is not None
    ]
    best = min(own, key=lambda s: points[s].multiplier) if own else None  # type: ignore[arg-type,return-value]
    at = points[best].multiplier if best is not None else None
    earlier = sorted(
        ((replayer.services[s], m) for s, m in bounds.items() if at is None or m < at),
        key=lambda pair: pair[1],
    )
    if best is not None:
        point, limit = points[best], limits[best]
        sentence = (
            f"{point.component} saturates first, at {point.multiplier:.2f}x the observed load "
            f"(90% band {point.low:.2f}-{_high(point.high)}"
            + (f", {point.rate_per_s:.3g} requests/s" if point.rate_per_s else "")
            + f"): limit {limit.workers} ({limit.source}, {limit.confidence} confidence)"
        )
    else:
        sentence = "no component with a known limit saturates"
    for name, m in earlier:
        limit = limits[replayer.services.index(name)]
        sentence += (
            f"; {name}'s limit is unknown ({limit.evidence}): with only those it would "
            f"saturate at {m:.2f}x{' first' if best is not None else ''} (give its workers in a "
            "workers file)"
        )
    return FirstToSaturate(
        replayer.services[best] if best is not None else None,
        at,
        points[best].low if best is not None else None,
        points[best].high if best is not None else None,
        earlier,
        sentence,
    )
