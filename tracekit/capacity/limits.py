"""How many requests a component serves at once, inferred from its spans, and how sure that is.

A span count seen at once is only a lower bound of a component's workers: a service that is
never full does not show its size, and a span that waits inside itself (for a lock, a pool) is
counted as busy while it waits (HotROD's customer service: 8 spans open, one database query at
a time). Evidence of the real limit, in the order it is looked for:

- **lock waits**: events the instrumentation writes around a lock ("Waiting for lock ...",
  "Acquired lock ..."): the time before the acquisition is waiting, the rest is service; the
  limit is the most services seen at once, confirmed by the waits that happened meanwhile;
- **queueing**: requests that waited before their span started (a CLIENT span longer than its
  SERVER span by more than the network, a message in the broker): the limit is how many were in
  service while they waited (with c workers, a request waits only while all c are busy);
- **service time**: with neither, a component whose own time grows with the number of its
  spans in progress (a lock or pool inside the span that no event shows): the number of servers
  whose first-come-first-served schedule explains the spans' ends with service times that no
  longer grow with concurrency;
- **none seen**: no request waited; the most seen at once is a lower bound, and the forecast
  does not invent a queue for it.

A workers file overrides all of these.

>>> import numpy as np
>>> limit = infer_limit("db", starts_us=np.array([0, 10, 20]), ends_us=np.array([100, 200, 300]),
...                     service_starts_us=np.array([0, 100, 200]), waits=["lock"] * 3)
>>> limit.workers, limit.source
(1, 'lock waits')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SOURCES = ("file", "lock waits", "queueing", "service time", "none seen")
# A wait counts only when it is long against the service time (10%), against the network's
# own jitter and in absolute terms (1 ms).
QUEUED_FRACTION = 0.1
QUEUED_MIN_S = 0.001
JITTER_FACTOR = 3.0
# Confidence: waits seen while the inferred number of workers were busy.
HIGH_WAITS, HIGH_SHARE = 10, 0.8
MEDIUM_WAITS, MEDIUM_SHARE = 3, 0.5
# Waits are evidence of a limit only when they fall while the most seen were busy more often
# than chance would put them there (a one-sided binomial test against the share of the time
# at that level), or when they are long against the service time. Network jitter counted as
# waits falls at any level: HotROD's route server, busy at 3 for much of the time behind the
# frontend's pool of 3, showed 3 of 6 and 1 of 2 jitter "waits" at 3 busy.
SIGNIFICANCE = 0.01
CLEAR_WAIT = 0.5  # median wait against median service time
# Service time rising with concurrency: spans that started alone against spans that started
# with others in progress, each group at least this large, their median own time this far apart.
RISE_MIN_SPANS = 10
RISE_FACTOR = 1.5
RISE_FIT = 1.25  # the reconstructed service times must be this flat across concurrency
MAX_RECONSTRUCTED_WORKERS = 64
# Handing a worker or a lock on takes a moment the spans do not line up to: HotROD's mutex goes
# to the next waiter up to 0.1 ms before the releasing span ends (its Unlock runs before
# span.End), which would count two holders at once. Overlaps shorter than this are not overlaps.
HANDOFF_US = 1000


@dataclass(frozen=True)
class Limit:
    """The concurrency limit of one component and how it was found.

    ``workers`` is the limit; with ``source`` "none seen" it is only the most seen at once (a
    lower bound). ``confidence`` is "given" (workers file), "high", "medium", "low" or "none".
    ``evidence`` says in one sentence what the inference rests on. ``waits`` counts requests
    seen waiting, ``at_limit`` those of them that waited while ``workers`` were busy.
    """

    component: str
    workers: int
    source: str
    confidence: str
    evidence: str
    waits: int = 0
    at_limit: int = 0
    seen_at_once: int = 0

    @property
    def known(self) -> bool:
        """Whether ``workers`` is the limit (not just a lower bound)."""
        return self.source != "none seen"


def given(component: str, workers: int, seen_at_once: int = 0) -> Limit:
    """A limit from a workers file."""
    return Limit(component, int(workers), "file", "given", "given in the workers file",
                 seen_at_once=seen_at_once)  # fmt: skip


def _released(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """When each interval's place is free for the next: its end less the handoff allowance
    (at most half of it, so that short intervals keep their length)."""
    return np.maximum(ends - np.minimum(HANDOFF_US, (ends - starts) // 2), starts)


def max_overlap(starts: np.ndarray, ends: np.ndarray) -> int:
    """The most intervals [start, end) open at once (an end frees its place before a start at
    the same instant takes it; overlaps shorter than HANDOFF_US do not count).

    >>> max_overlap(np.array([0, 5000, 10000]), np.array([10000, 15000, 20000]))
    2
    >>> max_overlap(np.array([0, 9950]), np.array([10000, 20000]))   # a handoff, not an overlap
    1
    """
    if starts.size == 0:
        return 0
    ends = _released(starts, ends)
    times = np.concatenate([starts, ends])
    steps = np.concatenate([np.ones(starts.size), -np.ones(ends.size)])
    order = np.lexsort((steps, times))
    return int(np.cumsum(steps[order]).max())


def share_at_most(starts: np.ndarray, ends: np.ndarray) -> float:
    """The share of the time from the first start to the last end during which as many
    intervals were open as ever were (``max_overlap`` of them).

    >>> round(share_at_most(np.array([0, 500_000]), np.array([1_000_000, 2_000_000])), 3)
    0.25
    """
    if starts.size == 0:
        return 0.0
    ends = _released(starts, ends)
    times = np.concatenate([starts, ends])
    steps = np.concatenate([np.ones(starts.size), -np.ones(ends.size)])
    order = np.lexsort((steps, times))
    times, level = times[order], np.cumsum(steps[order])
    total = float(times[-1] - times[0])
    if total <= 0:
        return 1.0
    held = np.diff(times)[level[:-1] >= level.max()]
    return float(held.sum()) / total


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how likely ``k`` of ``n`` waits would fall while the
    component was at its most busy by chance alone (a share ``p`` of the time).

    >>> round(binomial_tail(3, 6, 0.5), 3)   # 42 of the 64 outcomes
    0.656
    """
    if k <= 0:
        return 1.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    if n > 2000:  # normal approximation, continuity corrected
        mean, sd = n * p, math.sqrt(n * p * (1 - p))
        return 0.5 * math.erfc((k - 0.5 - mean) / (sd * math.sqrt(2)))
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        + i * math.log(p) + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]  # fmt: skip
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def busy_at(starts: np.ndarray, ends: np.ndarray, at: np.ndarray) -> np.ndarray:
    """How many intervals [start, end) are open at each instant of ``at`` (as ``max_overlap``
    counts them)."""
    return np.searchsorted(np.sort(starts), at, side="right") - np.searchsorted(
        np.sort(_released(starts, ends)), at, side="right"
    )


def infer_limit(
    component: str,
    *,
    starts_us: np.ndarray,
    ends_us: np.ndarray,
    service_starts_us: np.ndarray,
    waits: Sequence[str | None],
    wait_starts_us: np.ndarray | None = None,
    instances: np.ndarray | None = None,
    own_us: np.ndarray | None = None,
    consumer: bool = False,
) -> Limit:
    """The limit of one component from its spans.

    Per span: when it started and ended, when its service began (after a lock wait inside the
    span, else its start), whether it waited (``waits``: "lock", "queue" or None) and, for
    queue waits, when the wait began (``wait_starts_us``). ``instances`` groups the spans by
    the process serving them (limits add up over instances); ``own_us`` is the span's own time
    (self time), for the service-time evidence.
    """
    n = starts_us.size
    instances = np.zeros(n, dtype=np.int64) if instances is None else instances
    wait_kind = np.asarray([w or "" for w in waits], dtype=object)
    waited = wait_kind != ""
    wait_from = starts_us if wait_starts_us is None else wait_starts_us
    total, seen, at_limit, waits_count, expected = 0, 0, 0, int(waited.sum()), 0.0
    for instance in np.unique(instances):
        mine = instances == instance
        serving = (service_starts_us[mine], ends_us[mine])
        most = max_overlap(*serving)
        seen += most
        total += most
        if waited[mine].any():
            # a waiting request's middle: with c workers all c are busy all the while it waits
            middle = (wait_from[mine][waited[mine]] + service_starts_us[mine][waited[mine]]) / 2
            at_limit += int((busy_at(*serving, middle) >= most).sum())
            expected += int(waited[mine].sum()) * share_at_most(*serving)
    if waits_count:
        share = at_limit / waits_count
        chance = binomial_tail(at_limit, waits_count, expected / waits_count)
        lengths = (service_starts_us - wait_from)[waited]
        clear = float(np.median(lengths)) >= CLEAR_WAIT * float(
            np.median(ends_us - service_starts_us)
        )
        lock = bool((wait_kind == "lock").any())
        source = "lock waits" if lock else "queueing"
        what = (
            "waited for the lock"
            if lock
            else "waited in the broker"
            if consumer
            else "waited before their span started"
        )
        if share < MEDIUM_SHARE or not (chance < SIGNIFICANCE or clear):
            return Limit(
                component,
                total,
                "none seen",
                "none",
                f"{waits_count} of {n} requests {what}, {at_limit} of them while {total} "
                f"{'were' if total != 1 else 'was'} in service: no more often than chance "
                f"would have it, so not a worker limit; at least {total} at once",
                waits_count,
                at_limit,
                seen,
            )
        confidence = _confidence(at_limit, share)
        return Limit(
            component,
            total,
            source,
            confidence,
            f"{waits_count} of {n} requests {what}, {at_limit} of them while {total} "
            f"{'were' if total != 1 else 'was'} in service, never more: limit {total}",
            waits_count,
            at_limit,
            seen,
        )
    if own_us is not None:
        rise = service_time_limit(starts_us, ends_us, own_us, instances)
        if rise is not None:
            workers, ratio, spans = rise
            return Limit(
                component,
                workers,
                "service time",
                "medium" if spans >= HIGH_WAITS else "low",
                f"own time grows with the spans in progress (x{ratio:.1f} when others are); "
                f"{workers} server{'s' if workers != 1 else ''} first come, first served "
                f"explain{'s' if workers == 1 else ''} the {n} spans' ends",
                spans,
                spans,
                seen,
            )
    return Limit(
        component,
        total,
        "none seen",
        "none",
        f"no request was seen waiting; at least {total} at once",
        0,
        0,
        seen,
    )


def _confidence(at_limit: int, share: float) -> str:
    if at_limit >= HIGH_WAITS and share >= HIGH_SHARE:
        return "high"
    if at_limit >= MEDIUM_WAITS:
        return "medium"
    return "low"


def queue_waits(
    gap_us: np.ndarray, service_us: np.ndarray, free: np.ndarray
) -> tuple[np.ndarray, float]:
    """Which calls waited before their span started, and the network time per call.

    ``gap_us`` is the time the caller saw outside the span (NaN without a traced caller),
    ``free`` marks calls that arrived while fewer than the most seen at once were busy: those
    could not have queued, so their gaps are the network (and its jitter); without enough of
    them the lowest gaps stand in.
    """
    known = ~np.isnan(gap_us)
    if not known.any():
        return np.zeros(gap_us.size, dtype=bool), 0.0
    free_gaps = gap_us[known & free]
    sample = free_gaps if free_gaps.size >= 5 else gap_us[known]
    network = float(np.quantile(sample, 0.5 if free_gaps.size >= 5 else 0.05))
    jitter = float(np.quantile(sample, 0.95)) - network if free_gaps.size >= 5 else 0.0
    threshold = max(
        QUEUED_FRACTION * float(np.median(service_us)), JITTER_FACTOR * jitter, QUEUED_MIN_S * 1e6
    )
    waited = known & (gap_us - network > threshold)
    return waited, network


def service_time_limit(
    starts_us: np.ndarray, ends_us: np.ndarray, own_us: np.ndarray, instances: np.ndarray
) -> tuple[int, float, int] | None:
    """(workers, rise, spans) when the spans' own time grows with their concurrency and a
    first-come-first-served schedule on some number of servers explains it; else None.

    ``rise`` is how much longer spans that started with others in progress took (median own
    time) than spans that started alone; ``spans`` counts the former.
    """
    in_progress = np.zeros(starts_us.size, dtype=np.int64)
    for instance in np.unique(instances):
        mine = np.flatnonzero(instances == instance)
        # spans of this instance open at each one's start, itself included
        in_progress[mine] = busy_at(starts_us[mine], ends_us[mine], starts_us[mine])
    alone, crowded = own_us[in_progress <= 1], own_us[in_progress > 1]
    if alone.size < RISE_MIN_SPANS or crowded.size < RISE_MIN_SPANS:
        return None
    base = float(np.median(alone))
    if base <= 0:
        return None
    rise = float(np.median(crowded)) / base
    if rise < RISE_FACTOR:
        return None
    best: tuple[float, int] | None = None
    most = int(in_progress.max())
    for workers in range(1, min(most, MAX_RECONSTRUCTED_WORKERS) + 1):
        service = np.concatenate(
            [
                fcfs_service(starts_us[instances == i], ends_us[instances == i], workers)
                for i in np.unique(instances)
            ]
        )
        flat = abs(math.log(max(float(np.median(service)), 1.0) / base))
        if best is None or flat < best[0]:
            best = (flat, workers * int(np.unique(instances).size))
    if best is None or best[0] > math.log(RISE_FIT):
        return None
    return best[1], rise, int(crowded.size)


def fcfs_service(starts_us: np.ndarray, ends_us: np.ndarray, workers: int) -> np.ndarray:
    """Service times implied by ``workers`` servers first come, first served: each span's
    service begins at its start or when a server frees (the earliest of the ``workers`` latest
    ends before it), whichever is later.

    >>> fcfs_service(np.array([0, 10, 20]), np.array([100, 200, 300]), 1).tolist()
    [100.0, 100.0, 100.0]
    """
    order = np.argsort(starts_us, kind="stable")
    free = np.zeros(workers)  # when each server frees, kept sorted
    service = np.empty(starts_us.size)
    for i in order:
        begin = max(float(starts_us[i]), float(free[0]))
        service[i] = max(float(ends_us[i]) - begin, 0.0)
        free[0] = max(float(ends_us[i]), free[0])
        free.sort()
    return service


def fcfs_begins(starts_us: np.ndarray, ends_us: np.ndarray, workers: int) -> np.ndarray:
    """When each span's service began under ``workers`` servers first come, first served."""
    service = fcfs_service(starts_us, ends_us, workers)
    return np.maximum(ends_us - service, starts_us)


@dataclass(frozen=True)
class Inferred:
    """What ``infer_limits`` found for every component: its limit, its network time (the gap a
    call sees without queueing), and per span the time it waited inside itself (lock waits, or
    the waits a service-time inference reconstructs), the rest being service."""

    limits: dict[str, Limit]
    network_us: dict[str, float]
    inner_wait_us: np.ndarray


def infer_limits(work: pd.DataFrame, override: dict[str, int] | None = None) -> Inferred:
    """Infer every component's limit from the work spans (``windows.work_spans``' frame)."""
    override = override or {}
    inner = work["inner_wait_us"].to_numpy(dtype=float).copy()
    starts = work["start_us"].to_numpy(dtype=np.int64)
    ends = starts + work["duration_us"].to_numpy(dtype=np.int64)
    arrivals = work["arrival_us"].to_numpy(dtype=np.int64)
    gaps = work["gap_us"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    own = work["self_us"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    consumer = (work["kind"] == "consumer").to_numpy()
    _, instance_codes = np.unique(work["instance"].astype(str).to_numpy(), return_inverse=True)
    limits: dict[str, Limit] = {}
    network: dict[str, float] = {}
    codes = work["service"].astype("category")
    for code, name in enumerate(codes.cat.categories):
        rows = np.flatnonzero(codes.cat.codes.to_numpy() == code)
        name = str(name)
        service_starts = starts[rows] + inner[rows].astype(np.int64)
        instances = instance_codes[rows]
        seen = sum(
            max_overlap(service_starts[instances == i], ends[rows][instances == i])
            for i in np.unique(instances)
        )
        # calls that found a free worker (fewer than the most seen busy) could not queue
        free = np.zeros(rows.size, dtype=bool)
        for i in np.unique(instances):
            mine = instances == i
            most = max_overlap(service_starts[mine], ends[rows][mine])
            free[mine] = (
                busy_at(service_starts[mine], ends[rows][mine], arrivals[rows][mine]) < most
            )
        queued, net = queue_waits(gaps[rows], ends[rows] - service_starts, free)
        network[name] = net
        if name in override:
            limits[name] = given(name, override[name], seen)
            continue
        locked = inner[rows] > QUEUED_MIN_S * 1e6
        waits = np.where(locked, "lock", np.where(queued, "queue", ""))
        extra = np.nan_to_num(gaps[rows] - net)
        wait_starts = np.where(
            consumer[rows], arrivals[rows], np.where(locked, starts[rows], starts[rows] - extra)
        )
        limit = infer_limit(
            name,
            starts_us=starts[rows],
            ends_us=ends[rows],
            service_starts_us=service_starts,
            waits=[w or None for w in waits],
            wait_starts_us=wait_starts.astype(np.int64),
            instances=instances,
            own_us=np.where(np.isnan(own[rows]), ends[rows] - starts[rows], own[rows]),
            consumer=bool(consumer[rows].all()),
        )
        if limit.source == "service time":
            # the waits the schedule implies are waiting, not service, as lock waits would be
            per_instance = max(limit.workers // max(np.unique(instances).size, 1), 1)
            for i in np.unique(instances):
                mine = rows[instances == i]
                begins = fcfs_begins(starts[mine], ends[mine], per_instance)
                inner[mine] = begins - starts[mine]
        limits[name] = limit
    return Inferred(limits, network, inner)
