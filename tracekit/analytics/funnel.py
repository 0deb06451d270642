"""Funnel: how far orders get along a named flow and where they stop, with certain business
loss, uncertain loss and telemetry loss kept apart; lost messages and telemetry loss as
DataFrames.

A flow is a YAML file listing the funnel's steps (``tracekit/flows/<name>.yaml`` ships the
workshop's); semantics in docs/analytics.md ("Funnel").

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
    """A named sequence of funnel steps (``service``, ``service:operation`` or
    ``queue:DESTINATION``)."""

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
                f"{label}: steps[{i}]: expected 'service', 'service:operation' or "
                f"'queue:DESTINATION', got {step!r}"
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


def _query(con: duckdb.DuckDBPyConnection, sql: str, steps: list[str]) -> pd.DataFrame:
    """Run a funnel query; a step the data does not know is a UserError (one line)."""
    try:
        return con.execute(sql, {"steps": steps}).df()
    except duckdb.InvalidInputException as exc:
        message = str(exc).strip().splitlines()[0]
        if "funnel: " not in message:
            raise
        raise UserError(message[message.index("funnel: ") :]) from exc


def funnel(
    con: duckdb.DuckDBPyConnection,
    steps: list[str] | tuple[str, ...] | None = None,
    *,
    flow: str | Path | Flow | None = None,
) -> pd.DataFrame:
    """Per step: step_no, step, service, operation, destination, present, entered, continued,
    dropped (= failed + lost + uncertain), failed, lost, uncertain, unseen, drop_rate,
    sample_trace_ids; absent leading steps have present False and no counts. Uses ``steps`` if
    given, else the flow (default: ``workshop``). A step the data does not know (other than an
    uninstrumented front of the flow) raises UserError naming the known services and queues."""
    return _query(con, "SELECT * FROM funnel($steps)", _steps(steps, flow))


def funnel_orders(
    con: duckdb.DuckDBPyConnection,
    steps: list[str] | tuple[str, ...] | None = None,
    *,
    flow: str | Path | Flow | None = None,
) -> pd.DataFrame:
    """One row per order that entered the flow: order_id, trace_ids, furthest_step_no,
    furthest_step, completed, dropped_at (NULL for completed orders), outcome ('completed',
    'failed', 'lost', 'uncertain'), certain, steps_seen."""
    return _query(con, "SELECT * FROM funnel_orders($steps) ORDER BY order_id", _steps(steps, flow))


def lost_messages(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Messages nothing shows anyone took, one row each: trace_id, span_id (the innermost send
    span), service, destination, message_id, start_time, certain, reason ('send_failed',
    'no_consumer': certain; 'not_seen': lost, or its consumer's telemetry missing),
    outer_span_id."""
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
    """Certain business loss, uncertain loss and telemetry loss, one row per figure: loss,
    kind, count.

    business: orders that stopped because a step failed (``failed_orders``) or a message of
    theirs was certainly lost (``lost_orders``), and certainly lost messages (``lost_messages``).
    uncertain: orders that stopped with no evidence why (``uncertain_orders``) and messages
    nothing shows taken while their destination was consumed (``uncertain_messages``): lost,
    or their telemetry missing. telemetry: orphan spans and traces without a root (records
    lost, not orders).
    """
    return _query(
        con,
        """
        WITH orders AS (SELECT outcome FROM funnel_orders($steps))
        SELECT 'business' AS loss, 'failed_orders' AS kind,
               (SELECT count(*) FROM orders WHERE outcome = 'failed') AS count
        UNION ALL
        SELECT 'business', 'lost_orders', (SELECT count(*) FROM orders WHERE outcome = 'lost')
        UNION ALL
        SELECT 'business', 'lost_messages', (SELECT count(*) FROM lost_messages WHERE certain)
        UNION ALL
        SELECT 'uncertain', 'uncertain_orders',
               (SELECT count(*) FROM orders WHERE outcome = 'uncertain')
        UNION ALL
        SELECT 'uncertain', 'uncertain_messages',
               (SELECT count(*) FROM lost_messages WHERE NOT certain)
        UNION ALL
        SELECT 'telemetry', k, (SELECT count(*) FROM telemetry_loss WHERE kind = k)
        FROM (VALUES ('orphan_span'), ('trace_without_root')) AS t(k)
        """,
        _steps(steps, flow),
    )
