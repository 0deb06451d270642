"""Drops: the order funnel along a named flow, lost messages and telemetry loss, as DataFrames.

A flow is a YAML file listing the funnel's steps (``tracekit/flows/<name>.yaml`` ships the
workshop's); semantics in docs/analytics.md.

>>> con = tracekit.connect("data/demo")  # doctest: +SKIP
>>> funnel(con, flow="workshop")[["step", "entered", "dropped"]]  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from tracekit.errors import UserError


@dataclass(frozen=True)
class Flow:
    """A named sequence of funnel steps (``service``, ``service:operation`` or a destination)."""

    name: str
    steps: tuple[str, ...]
    description: str = ""


def builtin_flows() -> list[str]:
    """Names of the flows shipped in ``tracekit/flows/``."""
    folder = resources.files("tracekit").joinpath("flows")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_flow(name_or_path: str | Path) -> Flow:
    """A built-in flow by name (``"workshop"``) or a flow YAML file by path.

    >>> load_flow("workshop").steps[0]
    'internet-shop'
    """
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or "/" in text or path.exists():
        label = str(path)
        try:
            source = path.read_text()
        except OSError as exc:
            raise UserError(f"{label}: cannot read flow file: {exc.strerror}") from exc
    elif text in builtin_flows():
        label = text
        source = resources.files("tracekit").joinpath("flows", f"{text}.yaml").read_text()
    else:
        known = ", ".join(builtin_flows())
        raise UserError(f"unknown flow {text!r}; built in: {known} (or a YAML file)")
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise UserError(f"{label}: malformed YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise UserError(f"{label}: expected a mapping with a 'steps' list")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise UserError(f"{label}: steps: must be a non-empty list of steps")
    for i, step in enumerate(steps):
        if not isinstance(step, str) or not step.strip() or step.startswith(":"):
            raise UserError(
                f"{label}: steps[{i}]: expected 'service' or 'service:operation', got {step!r}"
            )
    unknown = sorted(set(map(str, data)) - {"name", "description", "steps"})
    if unknown:
        raise UserError(f"{label}: unknown key {unknown[0]!r}")
    return Flow(str(data.get("name") or path.stem), tuple(steps), str(data.get("description", "")))


def _steps(steps: list[str] | tuple[str, ...] | None, flow: str | Path | Flow | None) -> list[str]:
    if steps is not None and flow is not None:
        raise UserError("give either steps or flow, not both")
    if steps is None:
        chosen = flow if isinstance(flow, Flow) else load_flow(flow or "workshop")
        return list(chosen.steps)
    if not steps or not all(isinstance(s, str) and s for s in steps):
        raise UserError(f"steps: expected a non-empty list of names, got {steps!r}")
    return list(steps)


def funnel(
    con: duckdb.DuckDBPyConnection,
    steps: list[str] | tuple[str, ...] | None = None,
    *,
    flow: str | Path | Flow | None = None,
) -> pd.DataFrame:
    """Per step: step_no, step, service, operation, entered, continued, dropped, drop_rate,
    sample_trace_ids. Uses ``steps`` if given, else the flow (default: ``workshop``)."""
    return con.sql("SELECT * FROM funnel($steps)", params={"steps": _steps(steps, flow)}).df()


def funnel_orders(
    con: duckdb.DuckDBPyConnection,
    steps: list[str] | tuple[str, ...] | None = None,
    *,
    flow: str | Path | Flow | None = None,
) -> pd.DataFrame:
    """One row per order that entered the flow: order_id, trace_ids, furthest_step_no,
    furthest_step, completed, dropped_at (NULL for completed orders)."""
    return con.sql(
        "SELECT * FROM funnel_orders($steps) ORDER BY order_id",
        params={"steps": _steps(steps, flow)},
    ).df()


def lost_messages(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Producer spans whose message no consumer took: trace_id, span_id, service, destination,
    message_id, start_time."""
    return con.sql("SELECT * FROM lost_messages").df()


def telemetry_loss(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Orphan spans and traces without a root: kind, trace_id, span_id, service, operation,
    missing_span_id, start_time."""
    return con.sql("SELECT * FROM telemetry_loss").df()


def loss_summary(
    con: duckdb.DuckDBPyConnection,
    steps: list[str] | tuple[str, ...] | None = None,
    *,
    flow: str | Path | Flow | None = None,
) -> pd.DataFrame:
    """Business loss next to telemetry loss, one row each: loss, kind, count.

    Business: orders that entered the flow and never completed it, and lost messages.
    Telemetry: orphan spans and traces without a root (records lost, not orders).
    """
    return con.sql(
        """
        SELECT 'business' AS loss, 'lost_orders' AS kind, count(*) AS count
        FROM funnel_orders($steps) WHERE NOT completed
        UNION ALL
        SELECT 'business', 'lost_messages', count(*) FROM lost_messages
        UNION ALL
        SELECT 'telemetry', k, (SELECT count(*) FROM telemetry_loss WHERE kind = k)
        FROM (VALUES ('orphan_span'), ('trace_without_root')) AS t(k)
        """,
        params={"steps": _steps(steps, flow)},
    ).df()
