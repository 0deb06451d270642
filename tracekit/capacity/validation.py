"""Checking a forecast against a run at the forecast load: what the simulator (or production)
measured, next to what the capacity model predicted from the base run alone.

>>> table = compare("runs/load1", "runs/load2", 2.0, truth=truth1)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tracekit.capacity.forecast import capacity_plan, prepare
from tracekit.capacity.replay import quantile
from tracekit.capacity.windows import (
    DEFAULT_WINDOW_S,
    Connectable,
    as_connection,
    prepare_work,
    work_spans,
)


def observed_latency(con_or_dataset: Connectable) -> pd.DataFrame:
    """Per service the p50/p95 (ms) of the latency its traced callers saw (their client span, or
    queue wait plus consumer span); for a service no traced caller calls, of its spans."""
    con = as_connection(con_or_dataset)
    prepare_work(con, DEFAULT_WINDOW_S)
    return con.sql(
        "SELECT service, count(*) AS requests, "
        "CASE WHEN count(caller_us) > 0 THEN quantile_cont(caller_us, 0.5) "
        "     ELSE quantile_cont(duration_us, 0.5) END / 1000.0 AS p50_ms, "
        "CASE WHEN count(caller_us) > 0 THEN quantile_cont(caller_us, 0.95) "
        "     ELSE quantile_cont(duration_us, 0.95) END / 1000.0 AS p95_ms "
        "FROM capacity_work GROUP BY service ORDER BY service"
    ).df()


def entry_arrivals_us(con_or_dataset: Connectable) -> np.ndarray:
    """When the requests of a capture arrived (epoch microseconds): its entry spans (work spans
    no traced caller waited for; messages are not requests), sorted."""
    con = as_connection(con_or_dataset)
    prepare_work(con, DEFAULT_WINDOW_S)
    work = work_spans(con)
    entry = (work["caller_row"] < 0) & (work["kind"] != "consumer")
    return np.sort(work.loc[entry, "arrival_us"].to_numpy(dtype=np.int64))


def replay_at(
    base: Connectable,
    arrivals_us: np.ndarray,
    seed: int = 0,
    window_s: int = DEFAULT_WINDOW_S,
) -> pd.DataFrame:
    """Per service the p50/p95 (ms) of the latency callers see (entry spans: their duration) that
    ``base``'s model
    forecasts for requests arriving at ``arrivals_us`` (e.g. another run's
    ``entry_arrivals_us``): the ``replay`` model deals ``base``'s traces out to those times,
    so forecast and measurement meet the same arrival sequence (common random numbers: the
    comparison then tests the model, not the luck of one run's arrivals)."""
    setup = prepare(base, window_s, model="replay")
    replayer = setup.replayer
    times = np.sort(np.asarray(arrivals_us, dtype=np.int64))
    roots = replayer.roots
    start = float(replayer.arrival_s[roots].min()) if roots.size else 0.0
    offsets = (times - times[0]) / 1e6 + start if times.size else np.zeros(0)
    # the load the times carry, against the base's, for which periods saturate
    span_s = max((times[-1] - times[0]) / 1e6, 1e-6) if times.size > 1 else 1.0
    base_span = max(float(np.ptp(replayer.arrival_s[roots])), 1e-6) if roots.size > 1 else 1.0
    multiplier = (times.size / span_s) / (roots.size / base_span) if roots.size else 1.0
    sampled = replayer.sample(
        multiplier, setup.workers, np.random.default_rng(seed), entry_times_s=offsets
    )
    rows = []
    for s, name in enumerate(replayer.services):
        values = sampled.latency_s[:, replayer.by_service[s]].ravel()
        rows.append(
            {
                "service": name,
                "multiplier": round(multiplier, 4),
                "p50_ms": quantile(values, 0.5) * 1000.0,
                "p95_ms": quantile(values, 0.95) * 1000.0,
            }
        )
    return pd.DataFrame(rows)


def compare(
    base: Connectable,
    at_load: Connectable,
    multiplier: float,
    truth: dict[str, Any] | None = None,
    truth_at_load: dict[str, Any] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per service: forecast (from ``base`` alone) vs measured (``at_load``) p50/p95,
    their relative errors, forecast utilization and, with truth files, the true peak
    utilization at the load and the true saturation load next to the forecast's."""
    plan = capacity_plan(base, [multiplier], seed=seed)
    forecast = plan.table.set_index("service")
    measured = observed_latency(at_load).set_index("service")
    rows = []
    for service in forecast.index:
        f = forecast.loc[service]
        row: dict[str, Any] = {
            "service": service,
            "multiplier": multiplier,
            "forecast_p50_ms": f["p50_ms"],
            "measured_p50_ms": _get(measured, service, "p50_ms"),
            "forecast_p95_ms": f["p95_ms"],
            "measured_p95_ms": _get(measured, service, "p95_ms"),
            "forecast_utilization": f["utilization"],
            "workers": f["workers"],
            "workers_known": f["workers_known"],
        }
        if truth is not None:
            row["true_workers"] = truth["components"][service]["workers"]
        row["p95_error"] = _error(row["forecast_p95_ms"], row["measured_p95_ms"])
        if truth_at_load is not None:
            row["true_peak_utilization"] = truth_at_load["components"][service]["peak_utilization"]
        row["forecast_saturation"] = f["saturation_multiplier"]
        if truth is not None:
            row["true_saturation_load"] = truth["components"][service]["saturation_load"]
            row["saturation_error"] = _error(
                row["forecast_saturation"], row["true_saturation_load"]
            )
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs["first_to_saturate"] = plan.first_to_saturate
    frame.attrs["models"] = plan.models
    return frame


def _get(frame: pd.DataFrame, service: str, column: str) -> float | None:
    return float(frame.at[service, column]) if service in frame.index else None  # type: ignore[arg-type]


def _error(forecast: float | None, actual: float | None) -> float | None:
    if forecast is None or actual is None or not actual or not math.isfinite(forecast):
        return None
    return round((forecast - actual) / actual, 4)
