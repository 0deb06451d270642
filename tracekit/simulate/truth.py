"""Ground truth of a run, computed from what the model did (not from the spans it emitted).

The fields are described in docs/simulator.md. In short, per service: ``arrivals`` counts the
requests a worker started (server and consumer spans started, dropped telemetry included);
``utilization`` is busy worker-time inside the run window over ``workers * duration``;
``peak_utilization`` the same over the busiest 5-minute bucket (buckets aligned to the start);
``saturation_load = load / peak_utilization``: busy time grows linearly with the arrival rate
when service times stay put, so the load multiplier that brings the busiest 5 minutes to 1 is
the run's load divided by its peak utilization (a first-order estimate: callers that hold a
worker while waiting downstream get slower as their callees queue, which it ignores).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracekit.simulate.model import ModelOutcome
from tracekit.simulate.scenario import Scenario

PEAK_WINDOW_S = 300.0


def busy_integral(starts: np.ndarray, ends: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Worker-seconds spent busy before each time in ``at``, for busy intervals [start, end).

    B(t) = sum over intervals of clip(t - start, 0, end - start), evaluated with sorted
    cumulative sums so a day of spans costs a few numpy calls.
    """
    s = np.sort(starts)
    e = np.sort(ends)
    cs = np.concatenate(([0.0], np.cumsum(s)))
    ce = np.concatenate(([0.0], np.cumsum(e)))
    ns = np.searchsorted(s, at, side="right")
    ne = np.searchsorted(e, at, side="right")
    return (ns * at - cs[ns]) - (ne * at - ce[ne])


def window_edges(duration_s: float) -> np.ndarray:
    """Edges of the 5-minute buckets over the run (one bucket when the run is shorter)."""
    buckets = int(duration_s // PEAK_WINDOW_S)
    if buckets == 0:
        return np.array([0.0, duration_s])
    return np.arange(buckets + 1) * PEAK_WINDOW_S


def compute_truth(
    outcome: ModelOutcome, scenario: Scenario, seed: int, load: float, duration_s: float
) -> dict[str, Any]:
    """The truth document (JSON-ready dict) of one run.

    An order is lost when it never reached the scenario's ``delivered_at`` service (``crm``);
    without a delivery point, when its request tree failed. Telemetry loss never loses orders.
    """
    components: dict[str, dict[str, Any]] = {}
    edges = window_edges(duration_s)
    for name, svc in outcome.services.items():
        starts = np.asarray(svc.busy_start, dtype=float)
        ends = np.asarray(svc.busy_end, dtype=float)
        busy = busy_integral(starts, ends, edges) if starts.size else np.zeros(edges.size)
        per_bucket = np.diff(busy) / (svc.workers * np.diff(edges))
        utilization = (busy[-1] - busy[0]) / (svc.workers * (edges[-1] - edges[0]))
        if edges[-1] < duration_s and starts.size:  # the tail after the last full bucket
            whole = busy_integral(starts, ends, np.array([0.0, duration_s]))
            utilization = (whole[1] - whole[0]) / (svc.workers * duration_s)
        peak = float(per_bucket.max()) if per_bucket.size else 0.0
        components[name] = {
            "workers": svc.workers,
            "arrivals": svc.arrivals,
            "mean_service_ms": round(float((ends - starts).mean()) * 1000.0, 3)
            if starts.size
            else 0.0,
            "utilization": round(float(utilization), 6),
            "peak_utilization": round(peak, 6),
            "saturation_load": round(load / peak, 4) if peak > 0 else None,
        }
    bottleneck = (
        max(components, key=lambda n: components[n]["peak_utilization"]) if components else None
    )
    lost_orders = []
    for state in outcome.orders:
        if state.delivered:
            continue
        if state.failure is not None:
            component, reason = state.failure
        elif scenario.delivered_at is None:
            continue
        else:
            # Never failed and never delivered: the drain limit ended the run first.
            component, reason = None, "in_flight"
        entry = {"trace_id": state.visible, "component": component, "reason": reason}
        if reason.startswith("message_"):
            entry["message_id"] = state.lost_message
        lost_orders.append(entry)
    return {
        "scenario": scenario.name,
        "seed": seed,
        "load": load,
        "orders": len(outcome.orders),
        "components": components,
        "bottleneck": bottleneck,
        "lost_orders": lost_orders,
        "lost_messages": [
            {
                "trace_id": m.trace_id,
                "message_id": m.message_id,
                "destination": m.destination,
                "visible": m.visible,
            }
            for m in outcome.lost_messages
        ],
        "orphaned_spans": outcome.orphaned_spans,
    }
