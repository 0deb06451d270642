"""Forecasting load multipliers from the traces: utilization, latency callers see, saturation,
the first component to saturate, and the workers a p95 target needs.

The observed periods are the load curve; a multiplier scales every period's arrival rate. Each
component with a known limit (``tracekit.capacity.limits``: lock waits, queueing, service time
rising with concurrency, or a workers file) is a queue with that many workers fed by the
period's arrivals; its waits are drawn from M/G/c (Erlang C with the Allen-Cunneen correction
for the measured service-time variability), M/M/c or a simulated first-come-first-served
replay (``model``). Latencies are composed by replaying the real traces (see
``tracekit.capacity.replay``), so a slower callee makes its caller slower (and holds its worker
longer) too, up to the entry requests.

>>> plan = capacity_plan("data/demo", multipliers=[1, 2, 5], slo_p95_ms=5000)  # doctest: +SKIP
>>> plan.table[["service", "multiplier", "utilization", "p95_ms", "saturation"]]  # doctest: +SKIP
>>> plan.first.sentence                                                         # doctest: +SKIP
'mes saturates first, at 2.69x the observed load (90% band 2.31-3.21, ...)'
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from tracekit.capacity.limits import Limit, infer_limits
from tracekit.capacity.queueing import latency_quantiles, wait_model
from tracekit.capacity.replay import MODELS, Replayer, _cv2, quantile
from tracekit.capacity.saturation import (
    FirstToSaturate,
    SaturationPoint,
    describe,
    first_to_saturate,
    saturation_points,
)
from tracekit.capacity.usl import fit_usl
from tracekit.capacity.windows import (
    DEFAULT_WINDOW_S,
    MIN_PERIOD_ARRIVALS,
    Connectable,
    as_connection,
    coverage,
    load_workers_file,
    prepare_work,
    window_table,
    work_spans,
)
from tracekit.errors import UserError

DEFAULT_MULTIPLIERS = (1.0, 2.0, 5.0, 10.0)
MMC_CV2_TOLERANCE = 0.15  # service-time cv^2 this close to 1 is exponential enough for M/M/c
_WORKERS_LIMIT = 10_000
_WORKERS_SAMPLE = 20_000


@dataclass
class CapacityPlan:
    """What ``capacity_plan`` found.

    ``table``: one row per component and multiplier (utilization of the busiest period, p50/p95
    of the latency callers see, saturation in numbers and in words, workers needed).
    ``limits``: per component its workers, how they were inferred and how sure.
    ``models``: per component the model used, its inputs and how well it reproduces the
    observed periods. ``end_to_end``: p50/p95 of the entry requests per multiplier.
    ``windows``: the observed per-window metrics. ``first``: the first to saturate with its
    band and what could come earlier (``first.sentence`` says it in words);
    ``first_to_saturate`` is its name.
    """

    table: pd.DataFrame
    models: pd.DataFrame
    end_to_end: pd.DataFrame
    windows: pd.DataFrame
    first_to_saturate: str | None
    window_s: int
    notes: list[str] = field(default_factory=list)
    limits: pd.DataFrame = field(default_factory=pd.DataFrame)
    first: FirstToSaturate | None = None
    model: str = "M/G/c"


def forecast(
    con_or_dataset: Connectable,
    multipliers: Iterable[float] = DEFAULT_MULTIPLIERS,
    slo_p95_ms: float | None = None,
    workers: Mapping[str, int] | str | os.PathLike[str] | None = None,
    window_s: int = DEFAULT_WINDOW_S,
    seed: int = 0,
    model: str = "M/G/c",
) -> pd.DataFrame:
    """The forecast table of ``capacity_plan`` (one row per component and multiplier)."""
    return capacity_plan(
        con_or_dataset, multipliers, slo_p95_ms, workers, window_s, seed, model
    ).table


def capacity_plan(
    con_or_dataset: Connectable,
    multipliers: Iterable[float] = DEFAULT_MULTIPLIERS,
    slo_p95_ms: float | None = None,
    workers: Mapping[str, int] | str | os.PathLike[str] | None = None,
    window_s: int = DEFAULT_WINDOW_S,
    seed: int = 0,
    model: str = "M/G/c",
) -> CapacityPlan:
    """Forecast every component at each load multiplier (1 = the load in the data).

    ``workers`` (a mapping or a YAML file path) overrides inferred worker counts;
    ``slo_p95_ms`` asks for the workers each component needs to keep the p95 its callers see
    under that target in its busiest period. ``seed`` fixes the wait draws of the replay;
    ``model`` chooses how waits are drawn: "M/G/c" (default), "M/M/c" or "replay".
    """
    factors = _check_multipliers(multipliers)
    if slo_p95_ms is not None and not slo_p95_ms > 0:
        raise UserError(f"the p95 target must be a positive number of ms, got {slo_p95_ms}")
    if model not in MODELS:
        raise UserError(f"unknown queueing model {model!r}: one of {', '.join(MODELS)}")
    override = (
        load_workers_file(workers)
        if isinstance(workers, str | os.PathLike)
        else dict(workers or {})
    )
    setup = prepare(con_or_dataset, window_s, override, model)
    replayer, limits, worker_array, windows = (
        setup.replayer,
        setup.limits,
        setup.workers,
        setup.windows,
    )
    work, notes = setup.work, list(setup.notes)
    points, bounds = saturation_points(replayer, worker_array, limits)
    first = first_to_saturate(replayer, points, bounds, limits)
    if first.could_be_earlier or first.component is None:
        notes.append(first.sentence)
    rng = np.random.default_rng(seed)
    rows, entries = [], []
    top = max(factors)
    for m in factors:
        expected = replayer.run(m, worker_array)
        sampled = replayer.sample(m, worker_array, rng)
        for s in range(len(replayer.services)):
            rows.append(
                _row(
                    replayer,
                    s,
                    m,
                    expected,
                    sampled,
                    worker_array,
                    limits[s],
                    points[s],
                    replayer.services[s] == first.component,
                    slo_p95_ms,
                    top,
                    bounds.get(s),
                )
            )
        entries.extend(_end_to_end(replayer, work, m, sampled))
    table = pd.DataFrame(rows)
    models = _models(replayer, windows, worker_array, limits, rng)
    return CapacityPlan(
        table,
        models,
        pd.DataFrame(entries),
        windows,
        first.component,
        int(window_s),
        notes,
        limits_frame(limits),
        first,
        model,
    )


@dataclass
class Prepared:
    """The work spans of a dataset with their limits, ready to replay (``prepare``)."""

    work: pd.DataFrame
    windows: pd.DataFrame
    replayer: Replayer
    limits: list[Limit]
    workers: np.ndarray
    notes: list[str]


def prepare(
    con_or_dataset: Connectable,
    window_s: int = DEFAULT_WINDOW_S,
    override: Mapping[str, int] | None = None,
    model: str = "M/G/c",
) -> Prepared:
    """Work spans, window metrics, inferred limits and a Replayer whose queues are the
    components with a known limit (the others get no queue of their own: there is no evidence
    of one, so their utilization and saturation with the workers seen are only bounds)."""
    override = dict(override or {})
    con = as_connection(con_or_dataset)
    prepare_work(con, window_s)
    work = work_spans(con)
    if work.empty:
        raise UserError("no server or consumer spans in the dataset: nothing to plan capacity for")
    inferred = infer_limits(work, override)
    windows = window_table(con, window_s, work, inferred)
    unknown = sorted(set(override) - set(inferred.limits))
    notes = (
        [f"workers file names services not in the data: {', '.join(unknown)}"] if unknown else []
    )
    starts = np.unique(work["window_start"].to_numpy())
    covered = coverage(con, window_s).seconds(
        starts.astype("datetime64[us]").astype(np.int64), int(window_s) * 1_000_000
    )
    replayer = Replayer(
        work,
        window_s,
        covered_s=covered,
        inner_wait_us=inferred.inner_wait_us,
        network_us=inferred.network_us,
        model=model,
        min_period_arrivals=MIN_PERIOD_ARRIVALS,
    )
    limits = [inferred.limits[name] for name in replayer.services]
    if replayer.cyclic:
        notes.append(
            "calls loop between services; callers replayed before their callees miss "
            "the callees' slow-down"
        )
    replayer.queues[:] = [limit.known for limit in limits]
    workers = np.array([max(limit.workers, 1) for limit in limits])
    return Prepared(work, windows, replayer, limits, workers, notes)


def limits_frame(limits: list[Limit]) -> pd.DataFrame:
    """One row per component: its workers and how they were inferred."""
    frame = pd.DataFrame([asdict(limit) for limit in limits])
    if not frame.empty:
        frame.insert(2, "known", [limit.known for limit in limits])
    return frame


def _check_multipliers(multipliers: Iterable[float]) -> list[float]:
    factors = [float(m) for m in multipliers]
    if not factors:
        raise UserError("give at least one load multiplier")
    for m in factors:
        if not (m > 0 and math.isfinite(m)):
            raise UserError(f"load multipliers must be positive numbers, got {m:g}")
    return factors


def _row(
    replayer: Replayer,
    s: int,
    m: float,
    expected,
    sampled,
    workers: np.ndarray,
    limit: Limit,
    point: SaturationPoint,
    first: bool,
    slo_p95_ms: float | None,
    top: float,
    bound: float | None = None,
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
    saturated = (
        point.kind in ("own", "callee")
        and point.multiplier is not None
        and (m >= point.multiplier * (1 - 1e-9) or (limit.known and not peak < 1.0))
    )
    rate = replayer.rates[s]
    return {
        "service": replayer.services[s],
        "multiplier": m,
        "model": _model_name(replayer, s),
        "workers": int(workers[s]),
        "workers_known": limit.known,
        "limit_source": limit.source,
        "limit_confidence": limit.confidence,
        "arrivals_per_s": round(m * float(rate.max()), 6) if rate.size else 0.0,
        "busy_workers": round(peak * int(workers[s]), 6) if math.isfinite(peak) else None,
        "utilization": (round(peak, 6) if math.isfinite(peak) else None) if limit.known else None,
        "mean_utilization": (round(mean_util, 6) if math.isfinite(mean_util) else None)
        if limit.known
        else None,
        "p50_ms": _ms(p50),
        "p95_ms": _ms(p95),
        "saturated": bool(saturated),
        "saturation_multiplier": round(point.multiplier, 4)
        if point.multiplier is not None and point.kind in ("own", "callee")
        else None,
        "saturation_low": _round(point.low) if point.kind in ("own", "callee") else None,
        "saturation_high": _round(point.high) if point.kind in ("own", "callee") else None,
        "saturation_rate_per_s": _round(point.rate_per_s)
        if point.kind in ("own", "callee")
        else None,
        # an unknown limit: where it would saturate with only the workers seen at once
        "saturation_at_least": _round(bound),
        "saturation": describe(point, top, int(workers[s])),
        "first_to_saturate": first,
        "workers_needed": needed,
    }


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None and math.isfinite(value) else None


def _ms(seconds: float) -> float | None:
    return round(seconds * 1000.0, 3) if math.isfinite(seconds) else None


def _model_name(replayer: Replayer, s: int) -> str:
    """The queueing model drawing the component's waits ("none" without a known limit)."""
    if not replayer.queues[s]:
        return "none"
    if replayer.model != "M/G/c":
        return replayer.model
    cv2 = _cv2(replayer.service_time(s))
    return "M/M/c" if abs(cv2 - 1.0) <= MMC_CV2_TOLERANCE else "M/G/c"


def _workers_needed(replayer: Replayer, s: int, m: float, sampled, target_s: float) -> int | None:
    """Fewest workers keeping the p95 callers see within ``target_s`` in the busiest period,
    with the callees as forecast; None when the service's own time already breaks the target
    (or a callee is saturated)."""
    rows = replayer.by_service[s]
    info = replayer.periods[s]
    held = (sampled.duration_s[:, rows] - replayer.inner_wait[rows]).ravel()
    periods = np.tile(info.of_row, sampled.replicates)
    if not np.isfinite(held).all():
        return None
    sums = np.bincount(periods, weights=held, minlength=info.counts.size)
    peak = int(np.argmax(sums / info.covered_s))
    service = held[periods == peak]
    rate = m * info.counts[peak] / info.covered_s[peak]
    if service.size > _WORKERS_SAMPLE:  # the search solves quantiles over these many times
        service = np.random.default_rng(0).choice(service, _WORKERS_SAMPLE, replace=False)
    mean = float(service.mean())
    cv2 = _cv2(held)
    budget = target_s - (replayer.network[s] if replayer.has_caller[rows].any() else 0.0)
    if quantile(service, 0.95) > budget:
        return None
    workers = max(1, math.floor(rate * mean) + 1)
    queue = "M/M/c" if replayer.model == "M/M/c" else "M/G/c"
    while workers <= _WORKERS_LIMIT:
        model = wait_model(rate, mean, workers, cv2, queue)
        if latency_quantiles(service, model, (0.95,))[0] <= budget:
            return workers
        workers += 1
    return None


def _end_to_end(replayer: Replayer, work: pd.DataFrame, m: float, sampled) -> list[dict]:
    """p50/p95 of the requests that enter the system (no caller work span; messages are not
    requests), per entry."""
    consumer = (work["kind"] == "consumer").to_numpy() if "kind" in work.columns else False
    entry = np.flatnonzero((replayer.caller_row < 0) & ~consumer)
    if entry.size == 0:
        return []
    service = work["service"].astype("category").cat
    operation = work["operation"].astype("category").cat
    pair = (
        service.codes.to_numpy()[entry].astype(np.int64) * (len(operation.categories) + 1)
        + operation.codes.to_numpy()[entry]
    )
    _, which = np.unique(pair, return_inverse=True)
    which = which.ravel()
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
    limits: list[Limit],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Per component: the model, its inputs, and how well it reproduces the observed periods."""
    expected = replayer.run(1.0, workers)
    sampled = replayer.sample(1.0, workers, rng)
    edges = (windows["window_start"].min(), windows["window_start"].max())
    rows = []
    for s, name in enumerate(replayer.services):
        rows_s = replayer.by_service[s]
        held = replayer.service_time(s)
        called = replayer.has_caller[rows_s]
        observed = replayer.gap[rows_s] + replayer.duration[rows_s]
        observed_p95 = quantile(observed[called], 0.95) if called.any() else math.nan
        model_p95 = (
            quantile(sampled.latency_s[:, rows_s][:, called].ravel(), 0.95)
            if called.any()
            else math.nan
        )
        observed_wait = (
            np.maximum(replayer.gap[rows_s][called] - replayer.network[s], 0.0)
            + replayer.inner_wait[rows_s][called]
        )
        model_wait = expected.mean_wait_s[s][replayer.periods[s].of_row[called]]
        mine = windows[windows["service"] == name]
        # The first and last windows of the data are partial (the capture starts or stops
        # inside them): their low counts would pose as low-load points of the curve.
        whole = mine[(mine["window_start"] > edges[0]) & (mine["window_start"] < edges[1])]
        usl = fit_usl(whole["concurrency"].to_numpy(), whole["arrival_rate_per_s"].to_numpy())
        counts = replayer.arrivals[s]
        busy = counts > 0
        observed_peak = float(expected.utilization[s][busy].max()) if busy.any() else math.nan
        usl_max = usl.max_throughput(float(workers[s]))
        peak_rate = float(replayer.rates[s].max()) if replayer.rates[s].size else math.nan
        limit = limits[s]
        rows.append(
            {
                "service": name,
                "model": _model_name(replayer, s),
                "service_cv2": round(_cv2(held), 4),
                "mean_service_ms": round(float(held.mean()) * 1000.0, 3) if held.size else None,
                "workers": int(workers[s]),
                "workers_source": limit.source,
                "workers_known": limit.known,
                "limit_confidence": limit.confidence,
                "limit_evidence": limit.evidence,
                "network_ms": round(float(replayer.network[s]) * 1000.0, 3),
                "periods": int(busy.sum()),
                "observed_peak_utilization": round(observed_peak, 6)
                if limit.known and math.isfinite(observed_peak)
                else None,
                "observed_calls": int(called.sum()),
                "observed_wait_ms": round(float(observed_wait.mean()) * 1000.0, 3)
                if observed_wait.size
                else None,
                "model_wait_ms": round(float(model_wait.mean()) * 1000.0, 3)
                if model_wait.size and np.isfinite(model_wait).all()
                else None,
                "observed_p95_ms": _ms(observed_p95),
                "model_p95_ms": _ms(model_p95),
                "p95_fit_error": round(abs(model_p95 - observed_p95) / observed_p95, 4)
                if observed_p95 and math.isfinite(observed_p95) and math.isfinite(model_p95)
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
