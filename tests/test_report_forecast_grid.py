"""The capacity report's grid, on a hand-made forecast table (no kernel, fast)."""

from __future__ import annotations

import math

import pandas as pd

from tracekit.report.forecast_grid import forecast_grid, saturation_causes, workers_grid


def _table() -> pd.DataFrame:
    rows = []
    # gateway -> api -> db: db saturates at 1.3x; api and gateway hold workers while waiting
    # for it and saturate at 1.29x; cache saturates on its own at 4x.
    points = {"gateway": 1.29, "api": 1.29, "db": 1.3, "cache": 4.0, "idle": math.nan}
    for multiplier in (1.0, 2.0, 5.0):
        for service, point in points.items():
            saturated = not math.isnan(point) and multiplier >= point
            rows.append(
                {
                    "service": service,
                    "multiplier": multiplier,
                    "workers": 2,
                    "workers_known": service == "db",
                    "utilization": None
                    if saturated
                    else 0.75 * multiplier / point
                    if not math.isnan(point)
                    else 0.0,
                    "p95_ms": None if saturated else 6200.0 if service == "db" else 120.0,
                    "saturated": saturated,
                    "saturation_multiplier": point,
                    "workers_needed": None if service == "db" else 3 if saturated else 2,
                }
            )
    return pd.DataFrame(rows)


CALLS = [("gateway", "api"), ("api", "db"), ("api", "cache")]


def test_callers_saturating_with_a_callee_name_it() -> None:
    causes = saturation_causes(_table(), CALLS)
    assert causes == {"gateway": "db", "api": "db"}  # not the cache (4x), not each other


def test_the_grid_reads_components_across_multipliers() -> None:
    table = _table()
    grid = forecast_grid(table, saturation_causes(table, CALLS), slo_p95_ms=5000)
    assert list(grid["component"]) == ["db", "api", "gateway", "cache", "idle"]
    assert list(grid.columns) == ["component", "workers", "saturates at", "1×", "2×", "5×"]
    db = grid.set_index("component").loc["db"]
    assert db["workers"] == "2" and db["saturates at"] == "1.3×"
    assert db["1×"] == "58% busy · p95 6.2 s (over target)" and db["2×"] == "saturated"
    assert grid.set_index("component").loc["api", "5×"] == "waits on db"
    assert grid.set_index("component").loc["idle", "saturates at"] == "beyond the data"
    assert grid.set_index("component").loc["gateway", "workers"] == "2+"
    cells = " ".join(grid.astype(str).to_numpy().ravel())
    assert "%" in cells and not any(
        float(v) > 100 for v in __import__("re").findall(r"(\d+(?:\.\d+)?)%", cells)
    )


def test_workers_needed_or_why_not() -> None:
    workers = workers_grid(_table()).set_index("component")
    assert workers.loc["db", "1×"] == "no count meets it"
    assert workers.loc["cache", "5×"] == "2 → 3" and workers.loc["cache", "1×"] == "2 (enough)"
