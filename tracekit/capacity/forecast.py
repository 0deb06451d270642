"""Forecasting load multipliers from the traces: utilization, latency callers see, saturation,
the first component to saturate, and the workers a p95 target needs.

The observed windows are the daily load curve; a multiplier scales every window's arrival rate.
Each component is a queue with its measured workers (or the workers file's) fed by the window's
arrivals; the wait is Erlang C (M/M/c) with the Allen-Cunneen correction for the measured
service-time variability (M/G/c). Latencies are composed by replaying the real traces (see
``tracekit.capacity.replay``), so a slower callee makes its caller hold its worker longer.

>>> plan = capacity_plan("data/demo", multipliers=[1, 2, 5], slo_p95_ms=5000)  # doctest: +SKIP
>>> plan.table[["service", "multiplier", "utilization", "p95_ms", "saturated"]]  # doctest: +SKIP
>>> plan.first_to_saturate                                                        # doctest: +SKIP
'mes'
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tracekit.capacity.queueing import latency_quantiles, wait_model
from tracekit.capacity.replay import Replayer, quantile
from tracekit.capacity.usl import fit_usl
from tracekit.capacity.windows import (
    DEFAULT_WINDOW_S,
    Connectable,
    _window_table,
    as_connection,
    load_workers_file,
    prepare_work,
    work_spans,
)
from tracekit.errors import UserError

DEFAULT_MULTIPLIERS = (1.0, 2.0, 5.0, 10.0)
MMC_CV2_TOLERANCE = 0.15  # service-time cv^2 this close to 1 is exponential enough for M/M/c
# A call queued when its wait beyond the network exceeds this share of the typical service
# time; the measured workers count as the limit once enough calls queued.
QUEUED_FRACTION = 0.1
QUEUED_MIN_CALLS = 5
QUEUED_MIN_SHARE = 0.01
QUEUED_MIN_S = 0.001
_MAX_MULTIPLIER = 1e6
SATURATION_TOLERANCE = 1e-3  # relative precision of saturation multipliers
_WORKERS_LIMIT = 10_000
_WORKERS_SAMPLE = 20_000


@dataclass
class CapacityPlan:
    """What ``capacity_plan`` found.

    ``table``: one row per service and multiplier (utilization of the busiest window, p50/p95
    of the latency callers see, saturation, workers needed). ``models``: per service the model
    used, its inputs and how well it reproduces the observed windows. ``end_to_end``: p50/p95
    of the entry requests (e.g. an order's checkout) per multiplier. ``windows``: the observed
    per-window metrics the forecast starts from.
    """

    table: pd.DataFrame
    models: pd.DataFrame
    end_to_end: pd.DataFrame
    windows: pd.DataFrame
    first_to_saturate: str | None
    window_s: int
    notes: list[str] = field(default_factory=list)


def forecast(
    con_or_dataset: Connectable,
    multipliers: Iterable[float] = DEFAULT_MULTIPLIERS,
    slo_p95_ms: float | None = None,
    workers: Mapping[str, int] | str | os.PathLike[str] | None = None,
    window_s: int = DEFAULT_WINDOW_S,
    seed: int = 0,
) -> pd.DataFrame:
    """The forecast table of ``capacity_plan`` (one row per service and multiplier)."""
    return capacity_plan(con_or_dataset, multipliers, slo_p95_ms, workers, window_s, seed).table


def capacity_plan(
    con_or_dataset: Connectable,
    multipliers: Iterable[float] = DEFAULT_MULTIPLIERS,
    slo_p95_ms: float | None = None,
    workers: Mapping[str, int] | str | os.PathLike[str] | None = None,
    window_s: int = DEFAULT_WINDOW_S,
    seed: int = 0,
) -> CapacityPlan:
    """Forecast every component at each load multiplier (1 = the load in the data).

    ``workers`` (a mapping or a YAML file path) overrides measured worker counts;
    ``slo_p95_ms`` asks for the workers each component needs to keep the p95 its callers see
    under that target in its busiest window. ``seed`` fixes the wait draws of the replay.
    """
    factors = _check_multipliers(multipliers)
    if slo_p95_ms is not None and not slo_p95_ms > 0:
        raise UserError(f"the p95 target must be a positive number of ms, got {slo_p95_ms}")
    override = (
        load_workers_file(workers)
        if isinstance(workers, str | os.PathLike)
        else dict(workers or {})
    )
    con = as_connection(con_or_dataset)
    prepare_work(con, window_s)
    windows = _window_table(con, window_s, override)
    work = work_spans(con)
    if work.empty:
        raise UserError("no server or consumer spans in the dataset: nothing to plan capacity for")
    unknown = sorted(set(override) - set(work["service"].astype("category").cat.categories))
    notes = (
        [f"workers file names services not in the data: {', '.join(unknown)}"] if unknown else []
    )
    replayer = Replayer(work, window_s)
    counts = windows.groupby("service")["workers"].max()
    worker_array = np.array([max(int(counts.get(s, 1)), 1) for s in replayer.services])
    if replayer.cyclic:
        notes.append(
            "calls loop between services; callers replayed before their callees miss "
            "the callees' slow-down"
        )
    rng = np.random.default_rng(seed)
    known = [
        name in override or _queueing_seen(replayer, s) for s, name in enumerate(replayer.services)
    ]
    # A component that never queued shows only a lower bound of its workers: its utilization and
    # saturation use that bound (flagged by workers_known), but no wait is invented for it in
    # the latencies; a workers file makes it modelled like the others.
    replayer.queues[:] = known
    saturation: dict[int, float | None] = {}
    for s in replayer.order:  # callees first: a caller saturates no later than its callees
        below = [m for c in replayer.closure(s) if c != s and (m := saturation.get(c))]
        limit = min(below) if below else None
        own = _saturation_multiplier(replayer, s, worker_array, limit)
        # Past a callee's saturation its queue grows without end and so does the time this
        # service's workers wait for it (the window model, at the 15-minute average rate, can
        # still show a finite wait there): the service is saturated no later than its callee.
        saturation[s] = own if limit is None or own is None else min(own, limit)
    first, note = _first_to_saturate(replayer, saturation, known)
    notes.extend(note)
    rows, entries = [], []
    for m in factors:
        expected = replayer.run(m, worker_array)
        sampled = replayer.sample(m, worker_array, rng)
        for s, name in enumerate(replayer.services):
            rows.append(
                _row(
                    replayer,
                    s,
                    m,
                    expected,
                    sampled,
                    worker_array,
                    known[s],
                    saturation[s],
                    name == first,
                    slo_p95_ms,
                )
            )
        entries.extend(_end_to_end(replayer, work, m, sampled))
    table = pd.DataFrame(rows)
    models = _models(replayer, windows, worker_array, override, known, rng)
    return CapacityPlan(table, models, pd.DataFrame(entries), windows, first, int(window_s), notes)


def _check_multipliers(multipliers: Iterable[float]) -> list[float]:
    factors = [float(m) for m in multipliers]
    if not factors:
        raise UserError("give at least one load multiplier")
    for m in factors:
        if not (m > 0 and math.isfinite(m)):
            raise UserError(f"load multipliers must be positive numbers, got {m:g}")
    return factors


def _queueing_seen(replayer: Replayer, s: int) -> bool:
    """Did callers see this component queue? Only then was every worker seen busy at once, so
    the measured worker count is its limit rather than a lower bound."""
    rows = replayer.by_service[s]
    called = replayer.has_caller[rows]
    if not called.any():
        return False
    typical = float(np.median(replayer.duration[rows]))
    extra = replayer.gap[rows][called] - replayer.network[s]
    # Real networks jitter: an extra gap counts as queueing only when it is long against the
    # service time, against the typical call's jitter, and in absolute terms.
    jitter = float(np.median(extra))
    threshold = max(QUEUED_FRACTION * typical, 3.0 * jitter, QUEUED_MIN_S)
    waited = extra > threshold
    return int(waited.sum()) >= max(QUEUED_MIN_CALLS, QUEUED_MIN_SHARE * called.sum())


def _first_to_saturate(
    replayer: Replayer, saturation: dict[int, float | None], known: list[bool]
) -> tuple[str | None, list[str]]:
    """The component whose busiest window reaches utilization 1 first, among those whose
    worker count is known; a note when one with only a lower bound could come earlier."""

    def earliest(candidates: list[int]) -> int | None:
        finite = {s: m for s in candidates if (m := saturation[s]) is not None}
        return min(finite, key=finite.__getitem__) if finite else None

    every = replayer.order  # callees first, so a tie goes to the callee that causes it
    best = earliest([s for s in every if known[s]])
    overall = earliest(list(every))
    notes = []
    if overall is not None and overall != best:
        name = replayer.services[overall]
        notes.append(
            f"{name} never queued in the data, so its worker count is only a lower bound; with "
            f"just the workers seen busy at once it would saturate at "
            f"{saturation[overall]:.2f}x (give its real workers in a workers file)"
        )
    return (replayer.services[best] if best is not None else None), notes


def _row(
    replayer: Replayer,
    s: int,
    m: float,
    expected,
    sampled,
    workers: np.ndarray,
    known: bool,
    saturation: float | None,
    first: bool,
    slo_p95_ms: float | None,
) -> dict:
    rows = replayer.by_service[s]
    util = expected.utilization[s]
    counts = replayer.arrivals[s]
    busy = counts > 0
    peak = float(util[busy].max()) if busy.any() else 0.0
    mean_util = float((util * counts).sum() / counts.sum()) if counts.sum() else 0.0
    latency = sampled.latency_s[:, rows]
    traced = replayer.has_caller[rows]
    if traced.any():
        # What the traced callers see; requests from untraced callers (e.g. people using the
        # service directly) wait in the same queue but their latency is not in the traces.
        latency = latency[:, traced]
    latency = latency.ravel()
    p50, p95 = quantile(latency, 0.5), quantile(latency, 0.95)
    needed = None
    if slo_p95_ms is not None:
        needed = _workers_needed(replayer, s, m, sampled, slo_p95_ms / 1000.0)
    return {
        "service": replayer.services[s],
        "multiplier": m,
        "model": _model_name(replayer, s),
        "workers": int(workers[s]),
        "workers_known": known,
        "arrivals_per_s": round(m * float(counts.sum()) / (replayer.window_s * busy.sum()), 6)
        if busy.any()
        else 0.0,
        "utilization": round(peak, 6) if math.isfinite(peak) else None,
        "mean_utilization": round(mean_util, 6) if math.isfinite(mean_util) else None,
        "p50_ms": _ms(p50),
        "p95_ms": _ms(p95),
        "saturated": bool(not peak < 1.0),
        "saturation_multiplier": round(saturation, 4) if saturation is not None else None,
        "first_to_saturate": first,
        "workers_needed": needed,
    }


def _ms(seconds: float) -> float | None:
    return round(seconds * 1000.0, 3) if math.isfinite(seconds) else None


def _model_name(replayer: Replayer, s: int) -> str:
    held = replayer.duration[replayer.by_service[s]]
    cv2 = float(held.var() / held.mean() ** 2) if held.size and held.mean() > 0 else 0.0
    return "M/M/c" if abs(cv2 - 1.0) <= MMC_CV2_TOLERANCE else "M/G/c"


def _saturation_multiplier(
    replayer: Replayer, s: int, workers: np.ndarray, callee_limit: float | None = None
) -> float | None:
    """The multiplier at which the service's busiest window reaches utilization 1 (bisection on
    the expected replay of the service and its callees); None when it has no arrivals."""
    if replayer.arrivals[s].sum() == 0:
        return None
    chain = replayer.closure(s)

    seen: dict[float, float] = {}

    def peak(m: float) -> float:
        if m not in seen:
            util = replayer.run(m, workers, services=chain).utilization[s]
            seen[m] = float(util[replayer.arrivals[s] > 0].max())
        return seen[m]

    base = peak(1.0)
    if not base < 1.0:
        low, high = 0.0, 1.0
    elif base <= 0:
        return None
    else:
        # Busy time grows about linearly with load, and callees' slow-down only adds to it, so
        # the linear estimate is an upper bound and the answer is usually just below it.
        high = 1.0 / base
        if callee_limit is not None and 1.0 < callee_limit < high:
            high = callee_limit
        while peak(high) < 1.0:
            high *= 1.5
            if high > _MAX_MULTIPLIER:
                return None
        low = high * 0.9
        while low > 1.0 and not peak(low) < 1.0:
            low *= 0.7
        low = max(low, 1.0)
    # Illinois (regula falsi that halves a stale end's weight): the peak utilization is almost
    # linear in the multiplier, so this needs a few replays where bisection needs ten or more.
    f_low, f_high = peak(low) - 1.0, peak(high) - 1.0
    side = 0
    for _ in range(60):
        if high - low <= SATURATION_TOLERANCE * high:
            break
        if math.isfinite(f_high) and f_high > f_low:
            mid = high - f_high * (high - low) / (f_high - f_low)
            mid = min(max(mid, low + 1e-9 * high), high - 1e-9 * high)
        else:
            mid = (low + high) / 2.0
        f_mid = peak(mid) - 1.0
        if abs(f_mid) < SATURATION_TOLERANCE / 10:
            return mid
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
    return (low + high) / 2.0


def _workers_needed(replayer: Replayer, s: int, m: float, sampled, target_s: float) -> int | None:
    """Fewest workers keeping the p95 callers see within ``target_s`` in the busiest window,
    with the callees as forecast; None when the service's own time already breaks the target
    (or a callee is saturated)."""
    rows = replayer.by_service[s]
    counts = replayer.arrivals[s]
    held = sampled.duration_s[:, rows].ravel()
    windows = np.tile(replayer.window_code[rows], sampled.replicates)
    if not np.isfinite(held).all():
        return None
    sums = np.bincount(windows, weights=held, minlength=replayer.n_windows)
    peak = int(np.argmax(sums))
    service = held[windows == peak]
    rate = m * counts[peak] / replayer.window_s
    if service.size > _WORKERS_SAMPLE:  # the search solves quantiles over these many times
        service = np.random.default_rng(0).choice(service, _WORKERS_SAMPLE, replace=False)
    mean = float(service.mean())
    finite = held
    cv2 = float(finite.var() / finite.mean() ** 2) if finite.mean() > 0 else 0.0
    budget = target_s - (replayer.network[s] if replayer.has_caller[rows].any() else 0.0)
    if quantile(service, 0.95) > budget:
        return None
    workers = max(1, math.floor(rate * mean) + 1)
    while workers <= _WORKERS_LIMIT:
        model = wait_model(rate, mean, workers, cv2, replayer.model)
        if latency_quantiles(service, model, (0.95,))[0] <= budget:
            return workers
        workers += 1
    return None


def _end_to_end(replayer: Replayer, work: pd.DataFrame, m: float, sampled) -> list[dict]:
    """p50/p95 of the requests that enter the system (no caller work span), per entry."""
    entry = np.flatnonzero(replayer.caller_row < 0)
    service = work["service"].astype("category").cat
    operation = work["operation"].astype("category").cat
    pair = (
        service.codes.to_numpy()[entry].astype(np.int64) * (len(operation.categories) + 1)
        + operation.codes.to_numpy()[entry]
    )
    _, which = np.unique(pair, return_inverse=True)
    first = entry[np.unique(which, return_index=True)[1]]
    labels = [f"{work['service'].iloc[i]} {work['operation'].iloc[i]}" for i in first]
    frame = pd.DataFrame(
        {
            "entry": np.tile(np.asarray(labels, dtype=object)[which], sampled.replicates),
            "latency": sampled.latency_s[:, entry].ravel(),
        }
    )
    rows = []
    for name, group in frame.groupby("entry", sort=True):
        values = group["latency"].to_numpy()
        rows.append(
            {
                "entry": name,
                "multiplier": m,
                "requests": int(values.size // sampled.replicates),
                "p50_ms": _ms(quantile(values, 0.5)),
                "p95_ms": _ms(quantile(values, 0.95)),
            }
        )
    return rows


def _models(
    replayer: Replayer,
    windows: pd.DataFrame,
    workers: np.ndarray,
    override: Mapping[str, int],
    known: list[bool],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Per service: the model, its inputs, and how well it reproduces the observed windows."""
    expected = replayer.run(1.0, workers)
    sampled = replayer.sample(1.0, workers, rng)
    edges = (windows["window_start"].min(), windows["window_start"].max())
    rows = []
    for s, name in enumerate(replayer.services):
        rows_s = replayer.by_service[s]
        held = replayer.duration[rows_s]
        called = replayer.has_caller[rows_s]
        observed = replayer.gap[rows_s] + held
        observed_p95 = quantile(observed[called], 0.95) if called.any() else math.nan
        model_p95 = (
            quantile(sampled.latency_s[:, rows_s][:, called].ravel(), 0.95)
            if called.any()
            else math.nan
        )
        counts = replayer.arrivals[s]
        observed_wait = np.maximum(replayer.gap[rows_s][called] - replayer.network[s], 0.0)
        model_wait = expected.mean_wait_s[s][replayer.window_code[rows_s][called]]
        mine = windows[windows["service"] == name]
        # The first and last windows of the data are partial (the capture starts or stops
        # inside them): their low counts would pose as low-load points of the curve.
        whole = mine[(mine["window_start"] > edges[0]) & (mine["window_start"] < edges[1])]
        usl = fit_usl(whole["concurrency"].to_numpy(), whole["arrival_rate_per_s"].to_numpy())
        busy = counts > 0
        observed_peak = float(mine["utilization"].max()) if not mine.empty else math.nan
        usl_max = usl.max_throughput(float(workers[s]))
        peak_rate = float(mine["arrival_rate_per_s"].max()) if not mine.empty else math.nan
        rows.append(
            {
                "service": name,
                "model": _model_name(replayer, s),
                "service_cv2": round(float(held.var() / held.mean() ** 2), 4)
                if held.mean()
                else 0.0,
                "mean_service_ms": round(float(held.mean()) * 1000.0, 3),
                "workers": int(workers[s]),
                "workers_source": "file" if name in override else "measured",
                "workers_known": known[s],
                "network_ms": round(float(replayer.network[s]) * 1000.0, 3),
                "windows": int(busy.sum()),
                "observed_peak_utilization": round(observed_peak, 6),
                "linear_saturation_multiplier": round(1.0 / observed_peak, 4)
                if observed_peak > 0
                else None,
                "observed_calls": int(called.sum()),
                "observed_wait_ms": round(float(observed_wait.mean()) * 1000.0, 3)
                if observed_wait.size
                else None,
                "model_wait_ms": round(float(model_wait.mean()) * 1000.0, 3)
                if model_wait.size
                else None,
                "observed_p95_ms": _ms(observed_p95),
                "model_p95_ms": _ms(model_p95),
                "p95_fit_error": round(abs(model_p95 - observed_p95) / observed_p95, 4)
                if observed_p95 and math.isfinite(observed_p95)
                else None,
                "usl_fitted": usl.supported,
                "usl_sigma": round(usl.sigma, 6) if usl.supported else None,
                "usl_kappa": round(usl.kappa, 8) if usl.supported else None,
                "usl_r2": round(usl.r2, 4) if usl.supported else None,
                "usl_saturation_multiplier": round(usl_max / peak_rate, 4)
                if usl.supported and math.isfinite(usl_max) and peak_rate > 0
                else None,
                "usl_note": usl.note,
            }
        )
    return pd.DataFrame(rows)
