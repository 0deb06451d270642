"""Runtime state of simulated services: worker pools, operations, calls, held workers, and
what happened to each order. The SimPy processes that drive them live in ``model.py``.
"""

from __future__ import annotations

from typing import Any

import simpy

from tracekit.simulate.sampling import Sampler
from tracekit.simulate.scenario import Call, Operation
from tracekit.simulate.semconv import Semconv

OK, FAILED, UPSTREAM, TIMEOUT, REFUSED = 0, 1, 2, 3, 4
# outcome of a server/consumer span -> (status, status message, exception event type)
SERVER_STATUS: dict[int, tuple[str, str | None, str | None]] = {
    OK: ("UNSET", None, None),
    FAILED: ("ERROR", "HTTP 500: internal error", "InternalServerError"),
    UPSTREAM: ("ERROR", "HTTP 502: a downstream call failed", None),
}


class OrderState:
    """What happened to one request tree (an order or an operator call)."""

    __slots__ = ("trace_id", "is_order", "failure", "delivered", "visible", "lost_message")

    def __init__(self, trace_id: str, is_order: bool) -> None:
        self.trace_id = trace_id
        self.is_order = is_order
        # The first trace holding one of its spans (None while only uninstrumented services
        # worked on it); equals trace_id when the root service is instrumented.
        self.visible: str | None = None
        self.failure: tuple[str, str] | None = None
        self.delivered = False
        self.lost_message: str | None = None  # the message id, when a message loss failed it

    def fail(self, component: str, reason: str, message_id: str | None = None) -> None:
        # The first failure is the origin: inner calls fail (or time out) before outer ones.
        if self.is_order and self.failure is None:
            self.failure = (component, reason)
            self.lost_message = message_id


def http_parts(name: str) -> tuple[str, str] | None:
    """``"GET /models/{id}"`` -> ``("GET", "/models/{id}")``; None for non-HTTP names."""
    method, _, route = name.partition(" ")
    if method in ("GET", "POST", "PUT", "PATCH", "DELETE") and route.startswith("/"):
        return method, route
    return None


class OpState:
    """An operation at run time: its sampler, current error rate and resolved steps."""

    __slots__ = ("spec", "name", "sample", "error_rate", "extra_error", "steps", "server_attrs")

    def __init__(self, spec: Operation, sample: Sampler, semconv: Semconv) -> None:
        self.spec = spec
        self.name = spec.name
        self.sample = sample
        self.error_rate = spec.error_rate
        self.extra_error = 0.0  # raised by error bursts while they last
        self.steps: list[Any] = []
        http = http_parts(spec.name)
        self.server_attrs: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        for outcome, code in ((OK, "200"), (FAILED, "500"), (UPSTREAM, "502")):
            self.server_attrs[outcome] = semconv.server(*http, code) if http else ((), ())


class CallStep:
    """A resolved downstream call with its client-span attributes per outcome."""

    __slots__ = ("call", "callee", "op", "attrs", "repeat_min", "repeat_span", "timeout_s")

    def __init__(self, call: Call, callee: ServiceState, op: OpState, semconv: Semconv) -> None:
        self.call, self.callee, self.op = call, callee, op
        self.repeat_min = call.repeat_min
        self.repeat_span = call.repeat_max - call.repeat_min
        self.timeout_s = call.timeout_s
        http = http_parts(call.operation)
        answers = {OK: "200", FAILED: "500", UPSTREAM: "502", TIMEOUT: None, REFUSED: None}
        self.attrs: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
            outcome: semconv.client(callee.name, http, code) for outcome, code in answers.items()
        }


class Hold:
    """Workers taken out of service (a stall, or an instance that is down)."""

    __slots__ = ("want", "instance", "held")

    def __init__(self, want: int, instance: int | None) -> None:
        self.want, self.instance = want, instance
        self.held: list[int] = []


class ServiceState:
    """A service's worker pool (tokens = instance numbers in a FIFO ``simpy.Store``), its
    held workers, and the busy intervals and arrivals the truth is computed from."""

    __slots__ = (
        "name",
        "instances",
        "workers",
        "store",
        "ops",
        "holds",
        "undetected",
        "busy_start",
        "busy_end",
        "arrivals",
        "resource",
    )

    def __init__(
        self, env: simpy.Environment, name: str, instances: int, threads: int, resource: list[int]
    ) -> None:
        self.name, self.instances, self.workers = name, instances, instances * threads
        self.store = simpy.Store(env)
        # Tokens are instance numbers; interleaved so consecutive requests spread over instances.
        self.store.items = [i for _ in range(threads) for i in range(instances)]
        self.ops: dict[str, OpState] = {}
        self.holds: list[Hold] = []
        self.undetected = 0  # instances down that the load balancer still routes to
        self.busy_start: list[float] = []
        self.busy_end: list[float] = []
        self.arrivals = 0
        self.resource = resource  # collector resource index per instance

    def release(self, token: int) -> None:
        for hold in self.holds:
            if len(hold.held) < hold.want and hold.instance in (None, token):
                hold.held.append(token)
                return
        self.store.put(token)

    def start_hold(self, hold: Hold) -> None:
        items = self.store.items
        for token in [t for t in items if hold.instance in (None, t)][: hold.want]:
            items.remove(token)
            hold.held.append(token)
        self.holds.append(hold)

    def end_hold(self, hold: Hold) -> None:
        self.holds.remove(hold)
        for token in hold.held:
            self.store.put(token)
