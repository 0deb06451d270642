"""Replaying real traces at a higher load: every span's wait is redrawn from the queue of its
component in its period at the new load, and the change flows up to the callers that held a
worker while waiting for it, along each trace's own call tree.

Components are replayed callees first, so by the time a caller's spans are looked at their
durations already carry their callees' new latencies. The replayed spans keep their real service
time, call fan-out and timing; only the load they meet changes (arrival rate x multiplier). A
component whose limit is unknown gets no queue of its own (there is no evidence of one): its
spans only carry their callees' changes.

Four ways to draw a wait (``MODELS``), compared in docs/capacity.md:

- ``M/G/c`` (the default): Erlang C for the chance to wait; who waits waits a geometric number
  (mean 1 / (1 - utilization)) of residual service times of the measured service times
  divided by c (a service time picked in proportion to its length, a uniform part of it). For
  one worker that is the Pollaczek-Khinchine (Benes) distribution of M/G/1, exactly; for
  exponential service it is M/M/c's exponential wait, exactly; in between its mean is the
  Allen-Cunneen approximation's. The shape matters: HotROD's database holds its lock ~300 ms
  with cv^2 0.01, and an exponential tail of the same mean put the p95 at 1.25 requests/s 27%
  above the measured one;
- ``Allen-Cunneen``: Erlang C and the Allen-Cunneen mean ((1 + cv^2) / 2 of M/M/c's),
  exponential in shape;
- ``M/M/c``: Erlang C with exponential service assumed (the measured variability ignored);
- ``replay``: a first-come-first-served queue of c servers simulated over the period's real
  arrivals and service times, each span entered multiplier times (the original at its own
  time, extra copies at random times of its period): waits carry over between periods and
  bursts of the real arrival order are kept.

Utilization and saturation use the expected (mean) waits of the M/G/c model whichever model
draws the latencies.
"""

from __future__ import annotations

import graphlib
import heapq
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracekit.capacity.queueing import erlang_c
from tracekit.capacity.windows import periods

MODELS = ("M/G/c", "Allen-Cunneen", "M/M/c", "replay")
# Waits are modelled at the arrival rate averaged over this many neighbouring periods: a period's
# count is a Poisson sample of the real rate, and scaling its noise by the multiplier would be
# mistaken for load. Utilization and saturation keep the periods as observed.
SMOOTH_WINDOWS = 3
MAX_CALL_DEPTH = 256


@dataclass
class ReplayResult:
    """One replay: per span the new duration and caller latency (seconds), per service and
    period the utilization, waiting probability and mean wait."""

    multiplier: float
    duration_s: np.ndarray
    latency_s: np.ndarray
    utilization: dict[int, np.ndarray]
    prob_wait: dict[int, np.ndarray]
    mean_wait_s: dict[int, np.ndarray]


@dataclass
class Sampled:
    """Several sampled replays at one multiplier: ``latency_s`` and ``duration_s`` are arrays of
    shape (replicates, spans), so a quantile over a component pools every replicate's draws."""

    latency_s: np.ndarray
    duration_s: np.ndarray

    @property
    def replicates(self) -> int:
        return int(self.latency_s.shape[0])


# Replicates per sampled replay: enough draws that the Monte Carlo noise of a p95 stays small
# for an hour of traces, one replay for a week.
SAMPLED_SPANS = 400_000
MAX_REPLICATES = 32


class Replayer:
    """Holds the work spans as arrays and replays them at any load multiplier.

    ``covered_s`` gives, per distinct ``window_start`` of the work spans (sorted), the seconds
    of that window the data covers; ``inner_wait_us`` per span the time it waited inside itself
    (lock waits), which the replay replaces by the model's wait; ``network_us`` per service the
    gap a call sees without queueing.
    """

    def __init__(
        self,
        work: pd.DataFrame,
        window_s: int,
        *,
        covered_s: np.ndarray | None = None,
        inner_wait_us: np.ndarray | None = None,
        network_us: dict[str, float] | None = None,
        model: str = "M/G/c",
        min_period_arrivals: int = 1,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; one of {', '.join(MODELS)}")
        self.window_s = float(window_s)
        self.model = model
        self.services, codes = _codes(work["service"])
        self.n = len(work)
        self.service_code = codes
        windows, self.window_code = np.unique(work["window_start"].to_numpy(), return_inverse=True)
        self.window_code = self.window_code.ravel()
        self.window_starts = windows
        self.n_windows = len(windows)
        self.covered_s = (
            np.full(self.n_windows, self.window_s) if covered_s is None else np.asarray(covered_s)
        )
        self.duration = work["duration_us"].to_numpy(dtype=float) / 1e6
        inner = np.zeros(self.n) if inner_wait_us is None else np.asarray(inner_wait_us, float)
        self.inner_wait = np.clip(inner / 1e6, 0.0, self.duration)
        gap = work["gap_us"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        self.gap = gap / 1e6
        self.has_caller = ~np.isnan(self.gap)
        self.caller_row = work["caller_row"].to_numpy(dtype=np.int64)
        arrival = (
            work["arrival_us"] if "arrival_us" in work.columns else work["start_us"]
        ).to_numpy(dtype=np.int64)
        # seconds from the first window's start: the clock of the simulated queues
        origin = int(windows[0].astype("datetime64[us]").astype(np.int64)) if self.n else 0
        self.arrival_s = (arrival - origin) / 1e6
        self.window_start_s = (windows.astype("datetime64[us]").astype(np.int64) - origin) / 1e6
        count = len(self.services)
        self.by_service = [np.flatnonzero(self.service_code == i) for i in range(count)]
        self.network = np.zeros(count)
        for i, rows in enumerate(self.by_service):
            if network_us is not None:
                self.network[i] = network_us.get(self.services[i], 0.0) / 1e6
            else:
                gaps = self.gap[rows][self.has_caller[rows]]
                if gaps.size:
                    self.network[i] = float(np.quantile(gaps, 0.05))
        has = self.caller_row >= 0
        pairs = (
            np.unique(
                np.stack([self.service_code[self.caller_row[has]], self.service_code[has]]), axis=1
            )
            if has.any()
            else np.empty((2, 0), dtype=np.int64)
        )
        self.calls: dict[int, set[int]] = {}
        for caller, callee in pairs.T.tolist():
            if caller != callee:
                self.calls.setdefault(caller, set()).add(callee)
        self.order, self.cyclic = self._callees_first()
        step = np.diff(self.window_starts).astype("timedelta64[us]").astype(np.int64)
        self.follows = np.concatenate(([False], step == int(window_s) * 1_000_000))
        self.periods: list[_Periods] = []
        for s, rows in enumerate(self.by_service):
            per_window = np.bincount(self.window_code[rows], minlength=self.n_windows)
            busy = np.bincount(
                self.window_code[rows], weights=self.service_time(s), minlength=self.n_windows
            )
            group = periods(per_window, self.follows, min_period_arrivals, self.covered_s, busy)
            count_p = int(group.max()) + 1 if (group >= 0).any() else 0
            covered = np.bincount(
                group[group >= 0], weights=self.covered_s[group >= 0], minlength=count_p
            )
            self.periods.append(
                _Periods(
                    of_row=group[self.window_code[rows]],
                    covered_s=np.maximum(covered, 1e-6),
                    counts=np.bincount(group[self.window_code[rows]], minlength=count_p).astype(
                        float
                    ),
                    first_window=np.array(
                        [int(np.flatnonzero(group == p)[0]) for p in range(count_p)], dtype=np.int64
                    ),
                )
            )
        self.rates = [p.counts / p.covered_s for p in self.periods]
        self.smoothed = [
            _smooth(p.counts, p.covered_s, self.follows[p.first_window]) for p in self.periods
        ]
        self._fixed = [self._prepare(i, rows) for i, rows in enumerate(self.by_service)]
        self._trace_layout()
        self._islands = self._call_islands(work)
        # Services whose queue is modelled; the others are replayed without waits (used when
        # their limit is unknown: they never queued, so a wait would be invented).
        self.queues = np.ones(count, dtype=bool)

    def _trace_layout(self) -> None:
        """For the ``replay`` model: each span's trace (its root: the top of its chain of
        callers) and offset from the root's arrival, per service its spans grouped by trace,
        and per trace the stretch its copies may arrive in (its period's first to last
        arrival of the root's service)."""
        root = np.arange(self.n)
        for _ in range(MAX_CALL_DEPTH):  # callers that loop (bad data) stop here
            up = self.caller_row[root]
            climbing = up >= 0
            if not climbing.any():
                break
            root = np.where(climbing, up, root)
        self.roots, root_index = np.unique(root, return_inverse=True)
        root_index = root_index.ravel()
        self.offset_s = self.arrival_s - self.arrival_s[root]
        self.root_rows: list[tuple[np.ndarray, np.ndarray]] = []
        for rows in self.by_service:
            order = np.argsort(root_index[rows], kind="stable")
            pointer = np.concatenate(
                ([0], np.cumsum(np.bincount(root_index[rows], minlength=self.roots.size)))
            )
            self.root_rows.append((order, pointer))
        low = np.empty(self.roots.size)
        high = np.empty(self.roots.size)
        for s, rows in enumerate(self.by_service):
            mine = np.isin(self.roots, rows)
            if not mine.any():
                continue
            period = self.periods[s].of_row[np.searchsorted(rows, self.roots[mine])]
            arrival = self.arrival_s[rows]
            first = np.full(self.periods[s].counts.size, np.inf)
            last = np.full(self.periods[s].counts.size, -np.inf)
            np.minimum.at(first, self.periods[s].of_row, arrival)
            np.maximum.at(last, self.periods[s].of_row, arrival)
            low[mine], high[mine] = first[period], last[period]
        self.root_span_s = (low, high)

    @property
    def arrivals(self) -> list[np.ndarray]:
        """Per service, arrivals per period."""
        return [p.counts for p in self.periods]

    def _prepare(self, s: int, rows: np.ndarray) -> _Fixed:
        sync = self.caller_row[rows] >= 0
        return _Fixed(
            periods=self.periods[s].of_row,
            network=np.where(self.has_caller[rows], self.network[s], 0.0),
            sync=sync,
            observed=self.gap[rows][sync] + self.duration[rows][sync],
        )

    def _call_islands(self, work: pd.DataFrame) -> list[_Islands | None]:
        """Per caller service, its spans' synchronous calls grouped into islands of calls made
        at once (without island columns every call is its own island: calls in sequence)."""
        sync = np.flatnonzero(self.caller_row >= 0)
        if "call_island" in work.columns:
            island = work["call_island"].to_numpy(dtype=np.int64)[sync]
            end_us = work["call_end_us"].to_numpy(dtype=float, na_value=np.nan)[sync]
        else:
            island = np.full(sync.size, -1, dtype=np.int64)
            end_us = np.zeros(sync.size)
        # a call without an island (no CLIENT span seen) stands alone
        alone = island < 0
        island = np.where(alone, -2 - sync, island)
        finite = end_us[np.isfinite(end_us)]
        end_s = np.nan_to_num((end_us - (finite.min() if finite.size else 0.0)) / 1e6)
        caller_service = self.service_code[self.caller_row[sync]]
        result: list[_Islands | None] = []
        for s in range(len(self.services)):
            mine = np.flatnonzero(caller_service == s)
            if mine.size == 0:
                result.append(None)
                continue
            order = mine[np.argsort(island[mine], kind="stable")]
            keys = island[order]
            starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
            ends = end_s[order]
            callers = self.caller_row[sync[order]][starts]
            targets, inverse = np.unique(callers, return_inverse=True)
            result.append(
                _Islands(
                    rows=sync[order],
                    end_s=ends,
                    starts=starts,
                    old_end_s=np.maximum.reduceat(ends, starts),
                    targets=targets,
                    inverse=inverse.ravel(),
                )
            )
        return result

    def _callees_first(self) -> tuple[list[int], bool]:
        sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
        for i in range(len(self.services)):
            sorter.add(i, *sorted(self.calls.get(i, ())))
        try:
            return list(sorter.static_order()), False
        except graphlib.CycleError:
            # Calls loop between services: replay in name order; a caller replayed before its
            # callee then misses the callee's change (said in the model notes).
            return list(range(len(self.services))), True

    def closure(self, service: int) -> list[int]:
        """``service`` and every service it calls, directly or not, callees first."""
        seen, stack = {service}, [service]
        while stack:
            for callee in self.calls.get(stack.pop(), ()):
                if callee not in seen:
                    seen.add(callee)
                    stack.append(callee)
        return [s for s in self.order if s in seen]

    def service_time(self, s: int, duration: np.ndarray | None = None) -> np.ndarray:
        """The service times of service ``s``'s spans: duration less the waits inside them."""
        rows = self.by_service[s]
        source = self.duration if duration is None else duration
        return source[rows] - self.inner_wait[rows]

    def sample(
        self,
        multiplier: float,
        workers: np.ndarray,
        rng: np.random.Generator,
        entry_times_s: np.ndarray | None = None,
    ) -> Sampled:
        """Sampled replays, repeated so that about SAMPLED_SPANS spans are drawn in all."""
        count = max(1, min(MAX_REPLICATES, SAMPLED_SPANS // max(self.n, 1)))
        runs = [
            self.run(multiplier, workers, rng=rng, entry_times_s=entry_times_s)
            for _ in range(count)
        ]
        return Sampled(
            np.stack([r.latency_s for r in runs]), np.stack([r.duration_s for r in runs])
        )

    def run(
        self,
        multiplier: float,
        workers: np.ndarray,
        *,
        rng: np.random.Generator | None = None,
        services: list[int] | None = None,
        entry_times_s: np.ndarray | None = None,
    ) -> ReplayResult:
        """Replay at ``multiplier`` x the observed arrival rates with ``workers`` per service.

        With ``rng`` each span's wait is drawn from its period's model (for latency quantiles);
        without, each span gets its period's mean wait (a smooth expectation, for utilization).
        ``entry_times_s`` (model ``replay``): the requests' arrival times to replay the traces
        at, instead of ``multiplier`` copies of them (see ``placement``).
        """
        placement: Placement | None = None
        duration = self.duration.copy()
        latency = np.full(self.n, np.nan)
        delta = np.zeros(self.n)  # per span: how much later its caller sees it finish
        result = ReplayResult(multiplier, duration, latency, {}, {}, {})
        for s in services if services is not None else self.order:
            rows = self.by_service[s]
            if rows.size == 0:
                continue
            fixed = self._fixed[s]
            islands = self._islands[s]
            if islands is not None:
                # the callees (replayed already) move each island of calls by its latest end
                moved = np.maximum.reduceat(islands.end_s + delta[islands.rows], islands.starts)
                duration[islands.targets] += np.bincount(
                    islands.inverse,
                    weights=moved - islands.old_end_s,
                    minlength=islands.targets.size,
                )
            held = duration[rows] - self.inner_wait[rows]
            period = fixed.periods
            info = self.periods[s]
            counts = info.counts
            sums = np.bincount(period, weights=held, minlength=counts.size)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
            rate = multiplier * self.smoothed[s]
            cv2 = _cv2(held)
            model = "M/M/c" if self.model == "M/M/c" else "Allen-Cunneen"
            prob, mean_if, loaded = wait_arrays(rate, mean, int(workers[s]), cv2, model)
            if not self.queues[s]:
                prob, mean_if = np.zeros_like(prob), np.zeros_like(mean_if)
            util = multiplier * counts * mean / (info.covered_s * max(int(workers[s]), 1))
            result.utilization[s], result.prob_wait[s] = util, prob
            result.mean_wait_s[s] = prob * mean_if
            if rng is None or not self.queues[s]:
                waits = (prob * mean_if)[period]
            elif self.model == "replay":
                if placement is None:
                    placement = self.placement(multiplier, rng, entry_times_s)
                waits = self._simulated_waits(s, held, int(workers[s]), placement)
                # a saturated period's queue grows for as long as the load lasts: no finite
                # wait describes it (the run would only show how long the data lasted)
                waits[~(util[period] < 1.0)] = np.inf
            elif self.model == "M/G/c":
                waits = residual_waits(prob[period], loaded[period], held, int(workers[s]), rng)
            else:
                waited = rng.random(rows.size) < prob[period]
                draws = rng.exponential(1.0, rows.size) * mean_if[period]
                waits = np.where(waited, draws, 0.0)
            seen = fixed.network + waits + held
            latency[rows] = seen
            delta[rows[fixed.sync]] = seen[fixed.sync] - fixed.observed
        return result

    def placement(
        self,
        multiplier: float,
        rng: np.random.Generator,
        entry_times_s: np.ndarray | None = None,
    ) -> Placement:
        """Where the requests of a ``replay`` run enter: whole traces (a root span and every
        span below it, at their own offsets), each ``multiplier`` times (a fraction as a
        chance): the original at its own time, the copies at random times of its period.
        Below 1x a trace enters with that chance; the others only look at the queues (their
        waits are measured, their work is not added). ``entry_times_s`` (seconds on the
        replayer's clock) gives the requests' arrival times instead: the traces are dealt
        out to them at random, each trace at least once while there are times enough."""
        roots = self.roots
        count = roots.size
        if entry_times_s is not None:
            times = rng.permutation(np.asarray(entry_times_s, dtype=float))
            order = rng.permutation(count)
            if times.size >= count:
                which = np.concatenate([order, rng.integers(0, count, times.size - count)])
                return Placement(which, times, np.ones(which.size, bool), _first_of(which, count))
            # fewer requests than traces: the traces left over only probe, at their own time
            which = np.concatenate([order[: times.size], order[times.size :]])
            at = np.concatenate([times, self.arrival_s[roots[order[times.size :]]]])
            loaded = np.arange(which.size) < times.size
            return Placement(which, at, loaded, np.ones(which.size, bool))
        whole = math.floor(multiplier)
        extra = rng.random(count) < multiplier - whole
        original = self.arrival_s[roots]
        if whole < 1:
            return Placement(np.arange(count), original, extra, np.ones(count, bool))
        copies = np.repeat(np.arange(count), (whole - 1) + extra.astype(np.int64))
        low, high = self.root_span_s[0][copies], self.root_span_s[1][copies]
        which = np.concatenate([np.arange(count), copies])
        at = np.concatenate([original, low + rng.random(copies.size) * (high - low)])
        reported = np.arange(which.size) < count
        return Placement(which, at, np.ones(which.size, bool), reported)

    def _simulated_waits(
        self, s: int, held: np.ndarray, workers: int, placement: Placement
    ) -> np.ndarray:
        """Waits of service ``s``'s spans in a first-come-first-served queue of ``workers``,
        with every trace placed as ``placement`` says (a span arrives at its trace's time plus
        its own offset in the trace); per span, the wait of its trace's reported copy."""
        order, pointer = self.root_rows[s]
        starts = pointer[placement.which]
        sizes = pointer[placement.which + 1] - starts
        copy = np.repeat(np.arange(placement.which.size), sizes)
        within = np.arange(copy.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        local = order[starts[copy] + within]  # the span (index among s's spans) of each event
        at = placement.at[copy] + self.offset_s[self.by_service[s][local]]
        work = np.where(placement.loaded[copy], held[local], 0.0)
        waits_of_events = fcfs_waits(at, work, max(workers, 1))
        waits = np.zeros(held.size)
        reported = placement.reported[copy]
        waits[local[reported]] = waits_of_events[reported]
        return waits


def _first_of(which: np.ndarray, count: int) -> np.ndarray:
    """True at the first occurrence of each value of ``which`` (values below ``count``)."""
    first = np.zeros(which.size, dtype=bool)
    _, index = np.unique(which, return_index=True)
    first[index] = True
    return first


def fcfs_waits(at: np.ndarray, work: np.ndarray, workers: int) -> np.ndarray:
    """Waits in a first-come-first-served queue of ``workers`` servers: arrivals at ``at``
    bringing ``work`` seconds each (0: a probe that only looks at the queue). One server is
    Lindley's recursion, vectorised (a wait is the running sum of work less inter-arrival
    times, less its running minimum); more servers a heap of the times they free.

    >>> fcfs_waits(np.array([0.0, 0.5, 1.0]), np.array([1.0, 1.0, 1.0]), 1).tolist()
    [0.0, 0.5, 1.0]
    """
    order = np.argsort(at, kind="stable")
    times, jobs = at[order], work[order]
    waits = np.zeros(at.size)
    if at.size == 0:
        return waits
    if workers == 1:
        steps = np.concatenate(([0.0], jobs[:-1] - np.diff(times)))
        total = np.cumsum(steps)
        in_order = total - np.minimum.accumulate(np.minimum(total, 0.0))
        waits[order] = in_order
        return waits
    free = [0.0] * workers
    result = np.empty(at.size)
    for i in range(at.size):
        begin = max(times[i], free[0])
        result[i] = begin - times[i]
        if jobs[i] > 0:
            heapq.heapreplace(free, begin + jobs[i])
    waits[order] = result
    return waits


@dataclass(frozen=True)
class Placement:
    """Where the traces of a ``replay`` run enter: per entry, the trace (index into
    ``Replayer.roots``), its time, whether its work loads the queues (False: it only looks),
    and whether it is the copy whose waits the trace's spans report."""

    which: np.ndarray
    at: np.ndarray
    loaded: np.ndarray
    reported: np.ndarray


@dataclass(frozen=True)
class _Periods:
    """How one service's windows are pooled into periods (see ``windows.periods``)."""

    of_row: np.ndarray  # period index per span of the service
    covered_s: np.ndarray  # seconds of data per period
    counts: np.ndarray  # arrivals per period
    first_window: np.ndarray  # each period's first window (global index)


@dataclass(frozen=True)
class _Fixed:
    """What a replay needs of one service's spans that does not change with the load."""

    periods: np.ndarray  # period index per span
    network: np.ndarray  # network time per span (0 when no traced caller)
    sync: np.ndarray  # spans whose caller held a worker for them
    observed: np.ndarray  # what those callers saw (gap + duration)


@dataclass(frozen=True)
class _Islands:
    """A caller service's synchronous calls, sorted into islands of calls made at once."""

    rows: np.ndarray  # callee rows, island by island
    end_s: np.ndarray  # when each call ended (seconds from the earliest)
    starts: np.ndarray  # where each island begins in ``rows``
    old_end_s: np.ndarray  # each island's observed end
    targets: np.ndarray  # distinct caller rows
    inverse: np.ndarray  # per island, its caller's index in targets


def _cv2(values: np.ndarray) -> float:
    """Squared coefficient of variation of the finite values (0 when there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.mean() <= 0:
        return 0.0
    return float(finite.var() / finite.mean() ** 2)


def wait_arrays(
    rate: np.ndarray, mean_s: np.ndarray, workers: int, cv2: float, model: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per period: waiting probability, mean wait of those who wait, utilization (vectorised
    ``queueing.wait_model``); saturated periods get probability 1 and an infinite wait."""
    offered = rate * mean_s
    util = offered / workers if workers > 0 else np.full_like(offered, np.inf)
    prob = np.zeros_like(offered)
    mean_if = np.zeros_like(offered)
    saturated = ~(util < 1.0)
    ok = ~saturated & (offered > 0) & (mean_s > 0)
    if ok.any():
        prob[ok] = erlang_c_array(workers, offered[ok])
        factor = 1.0 if model == "M/M/c" else (1.0 + max(cv2, 0.0)) / 2.0
        # factor / (c / S - rate), written so that util < 1 keeps the divisor positive
        mean_if[ok] = factor * mean_s[ok] / (workers - offered[ok])
    prob[saturated] = 1.0
    mean_if[saturated] = np.inf
    return prob, mean_if, util


def residual_waits(
    prob: np.ndarray,
    utilization: np.ndarray,
    service_s: np.ndarray,
    workers: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Waits drawn as the ``M/G/c`` model describes: with probability ``prob`` (Erlang C) a
    request waits a Geometric(1 - utilization) number (at least one) of residual times of the
    service times divided by the workers; a residual time is a service time picked in
    proportion to its length, times a uniform fraction. Saturated requests wait forever.

    >>> rng = np.random.default_rng(1)
    >>> waits = residual_waits(np.full(200_000, 0.5), np.full(200_000, 0.5),
    ...                        np.array([1.0]), 1, rng)
    >>> round(float(waits.mean()), 2)   # M/D/1 at 0.5: Wq = rho S / (2 (1 - rho)) = 0.5
    0.5
    """
    size = prob.size
    waits = np.zeros(size)
    saturated = ~(utilization < 1.0)
    waited = (rng.random(size) < prob) & ~saturated
    waits[saturated] = np.inf
    if not waited.any():
        return waits
    finite = service_s[np.isfinite(service_s) & (service_s > 0)]
    if finite.size == 0:
        return waits
    # how many residuals each waiting request sums: Geometric on 1, 2, ... with mean 1 / (1 - u)
    counts = rng.geometric(1.0 - utilization[waited])
    total = int(counts.sum())
    weights = np.cumsum(finite)
    picked = np.searchsorted(weights, rng.random(total) * weights[-1], side="right")
    picked = np.minimum(picked, finite.size - 1)
    residual = finite[picked] * rng.random(total) / max(workers, 1)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    waits[waited] = np.add.reduceat(residual, starts)
    return waits


def erlang_c_array(workers: int, offered: np.ndarray) -> np.ndarray:
    """``queueing.erlang_c`` over an array of offered loads (each below ``workers``)."""
    blocking = np.ones_like(offered)
    for k in range(1, workers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    return workers * blocking / (workers - offered * (1.0 - blocking))


def _smooth(counts: np.ndarray, covered_s: np.ndarray, follows: np.ndarray) -> np.ndarray:
    """Arrival rate per period averaged with its neighbours over SMOOTH_WINDOWS periods (counts
    over covered seconds; a gap in time breaks the run: periods are neighbours only when one
    follows the other)."""
    if counts.size == 0 or SMOOTH_WINDOWS <= 1:
        return counts / covered_s
    total, seconds = counts.copy(), covered_s.copy()
    for shift in range(1, SMOOTH_WINDOWS // 2 + 1):
        # period i and i - shift are neighbours when every step between them is one period
        ok = np.zeros(counts.size, dtype=bool)
        ok[shift:] = np.all([follows[shift - k : counts.size - k] for k in range(shift)], axis=0)
        total[shift:] += np.where(ok[shift:], counts[:-shift], 0.0)
        seconds[shift:] += np.where(ok[shift:], covered_s[:-shift], 0.0)
        total[:-shift] += np.where(ok[shift:], counts[shift:], 0.0)
        seconds[:-shift] += np.where(ok[shift:], covered_s[shift:], 0.0)
    return total / seconds


def _codes(values: pd.Series) -> tuple[list[str], np.ndarray]:
    """Sorted distinct names and each row's index into them (fast for categoricals)."""
    categorical = values.astype("category")
    names = [str(name) for name in categorical.cat.categories]
    order = np.argsort(names)
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    return [names[i] for i in order], rank[categorical.cat.codes.to_numpy()]


def quantile(values: np.ndarray, q: float) -> float:
    """The linear-interpolated q-quantile; ``inf`` when it falls among infinite values."""
    values = np.sort(values[~np.isnan(values)])
    if values.size == 0:
        return math.nan
    position = q * (values.size - 1)
    low, high = math.floor(position), math.ceil(position)
    if math.isinf(values[high]):
        return math.inf
    return float(values[low] + (values[high] - values[low]) * (position - low))


__all__ = [
    "MODELS",
    "Placement",
    "Replayer",
    "ReplayResult",
    "Sampled",
    "erlang_c",
    "erlang_c_array",
    "quantile",
    "wait_arrays",
]
