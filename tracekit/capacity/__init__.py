"""Capacity planning from traces: per-window metrics, inferred concurrency limits, queueing
models, USL, and forecasts.

>>> from tracekit.capacity import capacity_plan, forecast
>>> forecast("data/demo", multipliers=[1, 2, 5, 10], slo_p95_ms=5000)   # doctest: +SKIP
>>> plan = capacity_plan("data/demo"); plan.first.sentence, plan.limits  # doctest: +SKIP
"""

from tracekit.capacity.forecast import CapacityPlan, capacity_plan, forecast
from tracekit.capacity.limits import Limit, infer_limits
from tracekit.capacity.queueing import erlang_c, latency_quantiles, wait_model, workers_needed
from tracekit.capacity.saturation import FirstToSaturate, SaturationPoint
from tracekit.capacity.usl import USLFit, fit_usl
from tracekit.capacity.windows import load_workers_file, window_metrics

__all__ = [
    "CapacityPlan",
    "FirstToSaturate",
    "Limit",
    "SaturationPoint",
    "USLFit",
    "capacity_plan",
    "erlang_c",
    "fit_usl",
    "forecast",
    "infer_limits",
    "latency_quantiles",
    "load_workers_file",
    "wait_model",
    "window_metrics",
    "workers_needed",
]
