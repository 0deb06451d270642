"""The capacity forecast as a reader wants it: components down, load multipliers across.

``capacity_plan().table`` has one row per component and multiplier; a grid with one cell per
pair ("75% · p95 16 s", "saturated", "waits on mes") answers "what breaks first" at a glance.
A caller that holds its workers while waiting for a saturated callee saturates with it; the
grid says "waits on mes" there instead of calling the caller saturated itself.

>>> grid = forecast_grid(plan.table, saturation_causes(plan.table, calls))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pandas as pd

from tracekit.report.prose import duration, percent, times

SAME_SATURATION = 0.05  # saturation points this close (relative) are the same event


def saturation_causes(table: pd.DataFrame, calls: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Component -> the component it saturates with: a caller (directly or through others) of
    a component whose saturation multiplier is within 5% of its own; followed down the chain,
    so every caller of a saturating component names that component."""
    callees: dict[str, set[str]] = defaultdict(set)
    for caller, callee in calls:
        if caller != callee:
            callees[str(caller)].add(str(callee))
    firsts = table.dropna(subset=["saturation_multiplier"]).groupby("service")
    points = {str(k): float(v) for k, v in firsts["saturation_multiplier"].first().items()}
    causes: dict[str, str] = {}
    for service, own in points.items():
        below = _reachable(service, callees) - {service}
        candidates = [
            (points[c], c)
            for c in below
            if c in points and abs(points[c] - own) <= SAME_SATURATION * own
        ]
        if candidates:
            causes[service] = min(candidates)[1]
    for service in list(causes):  # name the component that saturates, not a caller in between
        seen = {service}
        while causes[service] in causes and causes[service] not in seen:
            seen.add(causes[service])
            causes[service] = causes[causes[service]]
    return causes


def _reachable(start: str, callees: dict[str, set[str]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for callee in callees[stack.pop()]:
            if callee not in seen:
                seen.add(callee)
                stack.append(callee)
    return seen


def forecast_grid(
    table: pd.DataFrame, causes: dict[str, str], slo_p95_ms: float | None = None
) -> pd.DataFrame:
    """One row per component: workers, saturates at (×), and per multiplier a cell with the
    busiest window's utilization and the p95 callers see, or what stops it."""
    rows = []
    for service, group in table.groupby("service", sort=False):
        group = group.sort_values("multiplier")
        first = group.iloc[0]
        row: dict[str, object] = {
            "component": service,
            "workers": f"{int(first['workers'])}" + ("" if first["workers_known"] else "+"),
            "saturates at": times(first["saturation_multiplier"])
            if _finite(first["saturation_multiplier"])
            else "beyond the data",
        }
        for item in group.itertuples():
            row[str(times(item.multiplier))] = _cell(item, causes.get(str(service)), slo_p95_ms)
        rows.append(row)
    return _ordered(pd.DataFrame(rows), table, causes)


def _ordered(grid: pd.DataFrame, table: pd.DataFrame, causes: dict[str, str]) -> pd.DataFrame:
    """The component that saturates first leads, the callers that wait on it right after it."""
    points = table.groupby("service")["saturation_multiplier"].first().fillna(math.inf)
    cause = grid["component"].map(lambda c: causes.get(str(c), c))
    grid = grid.assign(_point=cause.map(points), _waits=grid["component"].map(causes.__contains__))
    ordered = grid.sort_values(["_point", "_waits", "component"])
    return ordered.drop(columns=["_point", "_waits"]).reset_index(drop=True)


def _cell(item: Any, cause: str | None, slo_p95_ms: float | None) -> str:
    saturated, utilization, p95 = bool(item.saturated), item.utilization, item.p95_ms
    if saturated:
        return f"waits on {cause}" if cause else "saturated"
    text = f"{percent(utilization)} busy" if _finite(utilization) else "–"
    if _finite(p95):
        over = slo_p95_ms is not None and p95 > slo_p95_ms
        text += f" · p95 {duration(p95)}" + (" (over target)" if over else "")
    return text


def workers_grid(table: pd.DataFrame, causes: dict[str, str] | None = None) -> pd.DataFrame:
    """Workers needed for the p95 target per component and multiplier (where the plan had a
    target): "2 → 3", "2 (enough)", or "no count meets it" when the component's own time
    already breaks the target."""
    rows = []
    for service, group in table.groupby("service", sort=False):
        group = group.sort_values("multiplier")
        row: dict[str, object] = {"component": service}
        for item in group.itertuples():
            have = int(item.workers)  # type: ignore[arg-type]
            need = item.workers_needed
            if not _finite(need):
                cell = "no count meets it"
            elif int(need) <= have:  # type: ignore[arg-type]
                cell = f"{have} (enough)"
            else:
                cell = f"{have} → {int(need)}"  # type: ignore[arg-type]
            row[str(times(item.multiplier))] = cell
        rows.append(row)
    return _ordered(pd.DataFrame(rows), table, causes or {})


def _finite(value: object) -> bool:
    try:
        return value is not None and math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
