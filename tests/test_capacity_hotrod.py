"""Capacity forecasts checked on Jaeger's HotROD, a real system: forecast from the open-loop
capture at rate r (tests/plugins/hotrod.py), measured at 2r and by stepping the rate in the
same test run (the machine is shared: HotROD's throughput depends on the CPU left over, so a
forecast is only compared with what was measured alongside it).

HotROD's customer service queries its database behind a mutex (one 300 ms query at a time),
whose spans log "Waiting for lock" / "Acquired lock" events: the forecast must find that limit
(1, from the lock waits), put the saturation where the real system stops keeping up, and make
latency rise with load up to it.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from tests.plugins.hotrod import HotrodCapture, Sweep
from tracekit.capacity import capacity_plan
from tracekit.capacity.validation import entry_arrivals_us, observed_latency, replay_at

pytestmark = [pytest.mark.jaeger, pytest.mark.hotrod, pytest.mark.slow]

ENTRY = "frontend"  # HotROD's /dispatch: where every request enters
BACKLOG = 3  # an answer counts as at capacity while at least this many requests were unanswered
P95_TOLERANCE = 0.25
SATURATION_TOLERANCE = 0.15
WINDOW_TOLERANCE = 0.10


def rate_of(dataset: Any) -> float:
    """Requests per second the capture carried (its entry spans over the time they span)."""
    times = entry_arrivals_us(dataset)
    return len(times) / ((times[-1] - times[0]) / 1e6)


def test_the_database_mutex_is_found_and_saturates_first(hotrod_open_r: HotrodCapture) -> None:
    plan = capacity_plan(hotrod_open_r.dataset, [1.0])
    where = f"{hotrod_open_r.describe()}: {plan.limits.to_dict('records')}"
    mysql = plan.limits.set_index("component").loc["mysql"]
    assert (mysql["workers"], mysql["source"]) == (1, "lock waits"), where
    assert mysql["confidence"] in ("high", "medium"), where
    assert plan.first_to_saturate == "mysql", where
    # the customer service's goroutines pile up behind the mutex, but it has no limit of its own
    assert not plan.limits.set_index("component").loc["customer", "known"], where


def test_forecast_p95_at_2r(hotrod_open_r: HotrodCapture, hotrod_open_2r: HotrodCapture) -> None:
    """The forecast from the capture at r, for the load the 2r run carried, against the p95 of
    /dispatch measured there.

    A 60 s run at 2r (the mutex ~76% busy) is one draw of a wide distribution: simulated M/D/1
    runs like it put the p95 anywhere in +-30% of their median, so a perfect forecast of that
    median lands within 25% of one run only ~80% of the time. The forecast is therefore also
    replayed at the 2r run's own arrival times (``validation.replay_at``: the model from r,
    the traces of r dealt out to those arrivals), which takes the luck of the arrivals out and
    leaves the model: that must come within 25%. The plain forecast, at the load the 2r run
    actually carried (its rate over r's), is reported alongside."""
    base, high = hotrod_open_r.dataset, hotrod_open_2r.dataset
    measured = observed_latency(high).set_index("service").loc[ENTRY, "p95_ms"]
    multiplier = rate_of(high) / rate_of(base)
    seed = random.randrange(2**32)
    replayed = replay_at(base, entry_arrivals_us(high), seed=seed)
    forecast = replayed.set_index("service").loc[ENTRY, "p95_ms"]
    plan = capacity_plan(base, [1.0, multiplier], seed=seed)
    at = plan.table[plan.table["service"] == ENTRY].set_index("multiplier")["p95_ms"]
    where = (
        f"{hotrod_open_r.describe()} -> {hotrod_open_2r.describe()}, replay seed {seed}: "
        f"measured p95 {measured:.0f} ms at {multiplier:.2f}x; forecast at those arrivals "
        f"{forecast:.0f} ms, at {multiplier:.2f}x {at[multiplier]} ms, at 1x {at[1.0]} ms"
    )
    assert abs(forecast - measured) / measured <= P95_TOLERANCE, where
    # latency rises with load
    assert at[multiplier] > 1.3 * at[1.0], where


def test_forecast_saturation_against_a_sweep(
    hotrod_open_r: HotrodCapture, hotrod_sweep: Sweep
) -> None:
    sweep = hotrod_sweep
    """The rate at which the forecast from r saturates HotROD, against the rate HotROD answered
    at while a backlog lasted in the steps past its saturation (its own HTTP answers)."""
    plan = capacity_plan(hotrod_open_r.dataset, [1.0])
    entry = plan.table.set_index("service").loc[ENTRY]
    forecast = entry["saturation_rate_per_s"]
    per_step = [step.backlogged_rate(BACKLOG) for step in sweep.steps]
    saturated = [
        (step, rate) for step, (rate, answers) in zip(sweep.steps, per_step, strict=True)
        if answers >= 20
    ]  # fmt: skip
    offered = [len(step.records) / step.duration_s for step in sweep.steps]
    where = (
        f"{hotrod_open_r.describe()}; sweep seed {sweep.steps[0].seed}: steps offered "
        f"{[round(r, 2) for r in offered]}/s, answered at "
        f"{[(round(r, 2), n) for r, n in per_step]} (rate, answers) while backlogged; forecast "
        f"{forecast:.2f}/s ({entry['saturation']})"
    )
    assert saturated, "no step of the sweep built a backlog: " + where
    measured = float(np.mean([rate for _, rate in saturated]))
    assert abs(forecast - measured) / measured <= SATURATION_TOLERANCE, where
    # the sweep stepped through the saturation: from below the capacity to well past it
    assert min(offered) < measured < 1.1 * max(offered), where
    # and the forecast knows it: past the saturation the latency has no finite p95
    beyond = capacity_plan(hotrod_open_r.dataset, [1.1 * entry["saturation_multiplier"]])
    assert beyond.table.set_index("service").loc[ENTRY, "saturated"], where
    assert np.isnan(beyond.table.set_index("service").loc[ENTRY, "p95_ms"]), where


def test_window_only_smooths(hotrod_open_r: HotrodCapture) -> None:
    """The same 60 s capture planned with windows from 10 s to an hour: the saturation point
    moves by less than 10% (rates are over the time the data covers; windows too short to
    hold a measurable rate are pooled)."""
    points = {}
    for window in (10, 30, 60, 120, 300, 900, 3600):
        plan = capacity_plan(hotrod_open_r.dataset, [1.0], window_s=window)
        row = plan.table.set_index("service").loc[ENTRY]
        points[window] = (plan.first_to_saturate, row["saturation_multiplier"])
    where = f"{hotrod_open_r.describe()}: {points}"
    reference = points[300][1]
    for first, multiplier in points.values():
        assert first == "mysql", where
        assert abs(multiplier - reference) / reference < WINDOW_TOLERANCE, where
