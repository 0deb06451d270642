"""The flow a report follows: the one asked for, as far as the data has its steps, or one
derived from the data.

A named flow (``workshop``) may name services a dataset does not have: another system, or
services that are not instrumented. Its absent steps are left out, and said so; when fewer than
two remain, or with ``auto`` on data that is not the workshop's, the flow is derived from the
data: from the service where most requests enter, the longest chain of calls that hands the
request on through a message, if any does (that is where requests get lost without failing),
else the longest chain; ties go to the chain whose weakest link carries the most calls.
``auto`` takes the workshop's flow when the data has most of its steps.

>>> choice = choose_flow(window.con, "auto")  # doctest: +SKIP
>>> choice.flow.steps, choice.absent, choice.noun  # doctest: +SKIP
(('frontend', 'billing'), (), 'request')
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import duckdb

from tracekit.analytics.funnel import Flow, load_flow
from tracekit.sqlfiles import load_sql

AUTO = "auto"
WORKSHOP = "workshop"
MAX_STEPS = 8
MAX_PATHS = 20_000  # chains tried before settling (a dense graph has very many)


@dataclass(frozen=True)
class FlowChoice:
    """The flow to run (``flow``), what was asked (``requested``), the requested flow's steps
    the data does not have (``absent``), whether the steps were derived from the data, and the
    noun for what enters the flow: ``order`` on the workshop's flow, ``request`` elsewhere."""

    flow: Flow
    requested: str
    absent: tuple[str, ...]
    derived: bool
    noun: str


def choose_flow(con: duckdb.DuckDBPyConnection, requested: str = AUTO) -> FlowChoice:
    """The flow for this window (see the module docstring)."""
    asked = requested.strip() or AUTO
    names = _names(con)
    named = load_flow(WORKSHOP if asked == AUTO else asked)
    present = tuple(step for step in named.steps if _has(names, step))
    absent = tuple(step for step in named.steps if step not in present)
    if asked == AUTO and 2 * len(present) <= len(named.steps):
        # Not the workshop's data: derive quietly (nobody asked for the workshop's steps).
        return FlowChoice(derive_flow(con), AUTO, (), True, "request")
    if len(present) >= 2:
        flow = Flow(named.name, present, named.description) if absent else named
        noun = "order" if named.name == WORKSHOP else "request"
        return FlowChoice(flow, asked, absent, False, noun)
    return FlowChoice(derive_flow(con), asked, absent, True, "request")


def derive_flow(con: duckdb.DuckDBPyConnection) -> Flow:
    """From the service where most requests enter: the longest chain through a message hand-off,
    else the longest chain of calls (see the module docstring)."""
    entries = con.sql(load_sql("report/entry_services.sql")).fetchall()
    if not entries:
        services = con.sql("SELECT DISTINCT service FROM span_rows ORDER BY 1").fetchall()
        return Flow("derived", tuple(str(s) for (s,) in services[:1]), "")
    entry = str(entries[0][0])
    calls: dict[str, dict[str, tuple[int, bool]]] = defaultdict(dict)
    for caller, callee, count, via in con.sql(
        "SELECT caller, callee, calls, via FROM dependencies WHERE caller IS NOT NULL "
        "AND callee IS NOT NULL"
    ).fetchall():
        calls[str(caller)][str(callee)] = (int(count), "link" in (via or []))
    best: tuple[bool, int, int, tuple[str, ...]] = (False, 1, 0, (entry,))
    tried = 0

    def walk(path: tuple[str, ...], weakest: int, handed_on: bool) -> None:
        nonlocal best, tried
        tried += 1
        if tried > MAX_PATHS:
            return
        candidate = (handed_on, len(path), weakest, path)
        if candidate[:3] > best[:3]:
            best = candidate
        if len(path) >= MAX_STEPS:
            return
        for callee, (count, message) in sorted(calls[path[-1]].items()):
            if callee not in path:
                walk((*path, callee), min(weakest, count), handed_on or message)

    walk((entry,), 1 << 62, False)
    steps = best[3]
    return Flow("derived", steps, " -> ".join(steps))


def _names(con: duckdb.DuckDBPyConnection) -> dict[str, set[tuple[str, str | None]]]:
    found: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
    for kind, name, operation in con.sql(load_sql("report/flow_names.sql")).fetchall():
        found[str(kind)].add((str(name), None if operation is None else str(operation)))
    return found


def _has(names: dict[str, set[tuple[str, str | None]]], step: str) -> bool:
    """Does the window have what ``step`` names (``service``, ``service:operation``,
    ``queue:DESTINATION`` or a bare destination)?"""
    if step.startswith("queue:"):
        return (step[len("queue:") :], None) in names["destination"]
    if ":" in step:
        service, operation = step.split(":", 1)
        return (service, operation) in names["operation"] or (service, None) in names["peer"]
    return any((step, None) in names[kind] for kind in ("service", "peer", "destination"))
