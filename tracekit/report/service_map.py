"""The service map: who calls whom, with calls and error rates, laid out for drawing offline.

Nodes are the services of the window (and the services they call that emit no spans); edges are
the dependencies view's caller -> callee pairs. The layout is layered, as a request flows: entry
services (those that start traces) on the left, every other service one column right of its
furthest caller, services in a column ordered by the mean position of their callers so edges
cross little. Cycles are cut where a depth-first walk from the entry services meets them.

>>> graph = service_map(window.con)  # doctest: +SKIP
>>> charts.service_map_chart(graph)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import duckdb
import pandas as pd

from tracekit.sqlfiles import load_sql

COLUMN_WIDTH = 230  # layout units between columns (one unit is one pixel in the chart)
ROW_HEIGHT = 90
MAX_WIDTH = 1000  # the page's width: columns come closer when there are many


@dataclass
class ServiceMap:
    """``nodes``: service, requests, errors, error_rate, p95_ms, traces_started, untraced, x, y.
    ``edges``: caller, callee, calls, errors, error_rate, p50_ms, p95_ms, async, untraced, and
    the coordinates x, y (caller) and x2, y2 (callee)."""

    nodes: pd.DataFrame
    edges: pd.DataFrame

    @property
    def width(self) -> int:
        return int(self.nodes["x"].max() + self.nodes["x"].min()) if len(self.nodes) else 0

    @property
    def height(self) -> int:
        return int(self.nodes["y"].max() + self.nodes["y"].min()) if len(self.nodes) else 0


def service_map(con: duckdb.DuckDBPyConnection) -> ServiceMap:
    """The window's services and calls, laid out (see the module docstring)."""
    edges = con.sql(load_sql("report/service_map_edges.sql")).df()
    nodes = con.sql(load_sql("report/service_nodes.sql")).df()
    nodes["untraced"] = False
    missing = sorted((set(edges["callee"]) | set(edges["caller"])) - set(nodes["service"]))
    if missing:
        extra = pd.DataFrame({"service": missing})
        extra["requests"] = [
            int(edges.loc[edges["callee"] == name, "calls"].sum()) for name in missing
        ]
        extra["errors"] = [
            int(edges.loc[edges["callee"] == name, "errors"].sum()) for name in missing
        ]
        extra["error_rate"] = extra["errors"] / extra["requests"].where(extra["requests"] > 0)
        extra["p95_us"] = float("nan")
        extra["traces_started"] = 0
        extra["untraced"] = True
        nodes = pd.concat([nodes, extra], ignore_index=True)
    nodes["p95_ms"] = nodes["p95_us"] / 1000
    edges["p50_ms"] = edges["p50_us"] / 1000
    edges["p95_ms"] = edges["p95_us"] / 1000
    positions = layout(
        list(nodes["service"]),
        list(zip(edges["caller"], edges["callee"], edges["calls"], strict=True)),
        entries={s for s, n in zip(nodes["service"], nodes["traces_started"], strict=True) if n},
    )
    nodes["x"] = [positions[s][0] for s in nodes["service"]]
    nodes["y"] = [positions[s][1] for s in nodes["service"]]
    edges["x"] = [positions[s][0] for s in edges["caller"]]
    edges["y"] = [positions[s][1] for s in edges["caller"]]
    edges["x2"] = [positions[s][0] for s in edges["callee"]]
    edges["y2"] = [positions[s][1] for s in edges["callee"]]
    columns = ["service", "requests", "errors", "error_rate", "p95_ms", "traces_started"]
    return ServiceMap(
        nodes[[*columns, "untraced", "x", "y"]].reset_index(drop=True),
        edges.drop(columns=["p50_us", "p95_us"]).reset_index(drop=True),
    )


def layout(
    services: list[str], calls: list[tuple[str, str, int]], *, entries: set[str]
) -> dict[str, tuple[float, float]]:
    """(x, y) per service: columns by call depth from the entry services, rows ordered by the
    mean row of each service's callers (the barycenter heuristic, two sweeps)."""
    callees: dict[str, list[str]] = defaultdict(list)
    callers: dict[str, list[str]] = defaultdict(list)
    for caller, callee, _ in sorted(calls, key=lambda c: (-c[2], c[0], c[1])):
        if caller != callee:
            callees[caller].append(callee)
            callers[callee].append(caller)
    # Depth-first from the entry services (then from any service not reached yet): an edge back
    # into the current path closes a cycle and is not followed.
    forward: set[tuple[str, str]] = set()
    state: dict[str, int] = {}

    def visit(service: str) -> None:
        state[service] = 1
        for callee in callees[service]:
            if state.get(callee) == 1:
                continue
            forward.add((service, callee))
            if callee not in state:
                visit(callee)
        state[service] = 2

    starts = sorted(entries & set(services)) + sorted(
        s for s in services if not callers[s] and s not in entries
    )
    for service in [*starts, *sorted(services)]:
        if service not in state:
            visit(service)
    depth = {s: 0 for s in services}
    for _ in range(len(services)):  # longest path over the forward edges (a DAG)
        changed = False
        for caller, callee in forward:
            if depth.get(callee, 0) < depth.get(caller, 0) + 1:
                depth[callee] = depth.get(caller, 0) + 1
                changed = True
        if not changed:
            break
    columns: dict[int, list[str]] = defaultdict(list)
    for service in sorted(services):
        columns[depth[service]].append(service)
    row: dict[str, float] = {}
    for _sweep in range(2):
        for column in sorted(columns):
            members = columns[column]

            def weight(service: str, column: int = column) -> float:
                placed = [row[c] for c in callers[service] if c in row and depth[c] < column]
                return sum(placed) / len(placed) if placed else row.get(service, math.inf)

            members.sort(key=lambda s: (weight(s), s))
            for index, service in enumerate(members):
                row[service] = float(index)
    tallest = max((len(m) for m in columns.values()), default=1)
    column_width = min(COLUMN_WIDTH, MAX_WIDTH / max(len(columns), 1))
    positions = {}
    for column, members in columns.items():
        offset = (tallest - len(members)) / 2  # centre short columns
        for index, service in enumerate(members):
            positions[service] = (
                column * column_width + column_width / 2,
                (index + offset) * ROW_HEIGHT + ROW_HEIGHT / 2,
            )
    return positions
