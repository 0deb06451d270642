"""Replaying real traces at a higher load: every span's wait is redrawn from the queue of its
component in its period at the new load, and the change flows up to the callers that held a
worker while waiting for it, along each trace's own call tree.

Components are replayed callees first, so by the time a caller's spans are looked at their
durations already carry their callees' new latencies. The replayed spans keep their real service
time, call fan-out and timing; only the load they meet changes (arrival rate x multiplier). A
component whose limit is unknown gets no queue of its own (there is no evidence of one): its
spans only carry their callees' changes.

Three ways to draw a wait (``MODELS``):

- ``M/G/c``: Erlang C for the chance to wait, the Allen-Cunneen mean (scaled by (1 + cv^2)/2
  of the measured service times) for how long, exponential in shape;
- ``M/M/c``: the same without the service-time variability (exponential service assumed);
- ``replay``: a first-come-first-served queue of c servers simulated over the period's real
  arrivals and service times, each span entered multiplier times (the original at its own
  time, extra copies at random times of its window): waits carry over between windows and
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

MODELS = ("M/G/c", "M/M/c", "replay")
# Waits are modelled at the arrival rate averaged over this many neighbouring periods: a period's
# count is a Poisson sample of the real rate, and scaling its noise by the multiplier would be
# mistaken for load. Utilization and saturation keep the periods as observed.
SMOOTH_WINDOWS = 3


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
        for rows in self.by_service:
            per_window = np.bincount(self.window_code[rows], minlength=self.n_windows)
            group = periods(per_window, self.follows, min_period_arrivals)
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
        self._islands = self._call_islands(work)
        # Services whose queue is modelled; the others are replayed without waits (used when
        # their limit is unknown: they never queued, so a wait would be invented).
        self.queues = np.ones(count, dtype=bool)

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

    def sample(self, multiplier: float, workers: np.ndarray, rng: np.random.Generator) -> Sampled:
        """Sampled replays, repeated so that about SAMPLED_SPANS spans are drawn in all."""
        count = max(1, min(MAX_REPLICATES, SAMPLED_SPANS // max(self.n, 1)))
        runs = [self.run(multiplier, workers, rng=rng) for _ in range(count)]
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
    ) -> ReplayResult:
        """Replay at ``multiplier`` x the observed arrival rates with ``workers`` per service.

        With ``rng`` each span's wait is drawn from its period's model (for latency quantiles);
        without, each span gets its period's mean wait (a smooth expectation, for utilization).
        """
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
            model = "M/M/c" if self.model == "M/M/c" else "M/G/c"
            prob, mean_if, _ = wait_arrays(rate, mean, int(workers[s]), cv2, model)
            if not self.queues[s]:
                prob, mean_if = np.zeros_like(prob), np.zeros_like(mean_if)
            util = multiplier * counts * mean / (info.covered_s * max(int(workers[s]), 1))
            result.utilization[s], result.prob_wait[s] = util, prob
            result.mean_wait_s[s] = prob * mean_if
            if rng is None:
                waits = (prob * mean_if)[period]
            elif self.model == "replay" and self.queues[s]:
                waits = self._simulated_waits(s, held, multiplier, int(workers[s]), rng)
            else:
                waited = rng.random(rows.size) < prob[period]
                draws = rng.exponential(1.0, rows.size) * mean_if[period]
                waits = np.where(waited, draws, 0.0)
            seen = fixed.network + waits + held
            latency[rows] = seen
            delta[rows[fixed.sync]] = seen[fixed.sync] - fixed.observed
        return result

    def _simulated_waits(
        self, s: int, held: np.ndarray, multiplier: float, workers: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Waits of service ``s``'s spans in a first-come-first-served queue of ``workers``
        simulated at ``multiplier`` x the load: each span enters at its own arrival time and
        ``multiplier - 1`` more copies of it (a fraction as a chance) at random times of its
        window; below 1x each span enters with that chance and the others only look at the
        queue (their wait is the time to a free server, their work not added)."""
        rows = self.by_service[s]
        arrival = self.arrival_s[rows]
        # each span's window start, on the same clock as the arrivals
        starts = self.window_start_s[self.window_code[rows]]
        low, high = float(self.arrival_s.min()), float(self.arrival_s.max())
        whole = math.floor(multiplier)
        extra = rng.random(rows.size) < multiplier - whole
        times = [arrival]
        services = [held]
        owners = [np.arange(rows.size)]
        copies = max(whole - 1, 0) * np.ones(rows.size, dtype=np.int64) + (
            extra if whole >= 1 else 0
        )
        repeat = np.repeat(np.arange(rows.size), copies)
        if repeat.size:
            drawn = starts[repeat] + rng.random(repeat.size) * self.window_s
            times.append(np.clip(drawn, low, high))
            services.append(held[repeat])
            owners.append(np.full(repeat.size, -1))
        at = np.concatenate(times)
        work = np.concatenate(services)
        owner = np.concatenate(owners)
        # below 1x the originals that lost the draw only probe the queue
        probe = np.zeros(at.size, dtype=bool)
        if whole < 1:
            probe[: rows.size] = ~extra
        waits = np.zeros(rows.size)
        free = [0.0] * max(workers, 1)
        for i in np.argsort(at, kind="stable"):
            begin = max(at[i], free[0])
            if owner[i] >= 0:
                waits[owner[i]] = begin - at[i]
            if not probe[i]:
                heapq.heapreplace(free, begin + work[i])
        return waits


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
        mean_if[ok] = factor / (workers / mean_s[ok] - rate[ok])
    prob[saturated] = 1.0
    mean_if[saturated] = np.inf
    return prob, mean_if, util


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
    "Replayer",
    "ReplayResult",
    "Sampled",
    "erlang_c",
    "erlang_c_array",
    "quantile",
    "wait_arrays",
]
