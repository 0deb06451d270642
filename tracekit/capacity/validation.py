"""Checking a forecast against a run at the forecast load: what the simulator (or production)
measured, next to what the capacity model predicted from the base run alone.

>>> table = compare("runs/load1", "runs/load2", 2.0, truth=truth1)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from tracekit.capacity.forecast import capacity_plan
from tracekit.capacity.windows import DEFAULT_WINDOW_S, Connectable, as_connection, prepare_work


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
