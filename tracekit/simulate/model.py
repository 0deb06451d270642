"""The SimPy model: services with workers and FIFO queues, synchronous calls, a message queue,
faults, and the bookkeeping the ground truth needs.

How a request moves (this is what the spans show):

* A caller opens a CLIENT span and sends the request (``network_ms`` one way).
* The callee's request waits in the service's FIFO queue for a free worker (a token in a
  ``simpy.Store``); the SERVER span starts when a worker takes it, so queueing shows up as the
  gap between the client span's start and the server span's start.
* The worker does half of its own work, makes its downstream calls one after another (holding
  the worker, as a thread-per-request server does), then does the other half. A worker is busy
  for exactly the server span's duration.
* Publishing a message is a PRODUCER span (two nested ones with ``producer_spans: nested``, as
  pika's instrumentation records a publish); the message then waits for a consumer worker of
  the queue's consumer service, whose CONSUMER span is the (inner) producer span's child in the
  same trace (``consumer: child``, pika's shape), starts a trace of its own with a span link to
  it (``linked``, OpenTelemetry's default), or both (``child_linked``). Attribute and span names
  follow the scenario's convention version (semconv.py).

Faults: per-operation error probability and error bursts (HTTP 500, status ERROR, the callers
answer 502), timeouts on calls (the caller gives up, the callee keeps working), messages lost or
expired in the queue, stalled workers, instances down (idle and freed workers of the instance
leave the pool; callers get "connection refused" until the load balancer notices), and
telemetry loss (spans dropped before export; business is unaffected).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from tracekit.simulate.runtime import (
    FAILED,
    OK,
    REFUSED,
    SERVER_STATUS,
    TIMEOUT,
    UPSTREAM,
    CallStep,
    Hold,
    OpState,
    OrderState,
    ServiceState,
)
from tracekit.simulate.sampling import Sampler, Uniform, arrival_times, stream
from tracekit.simulate.scenario import (
    Call,
    Distribution,
    Flow,
    Publish,
    Queue,
    Scenario,
    Window,
)
from tracekit.simulate.semconv import SEMCONV
from tracekit.simulate.spans import SpanCollector

_PUBLISH_TIME = Distribution("lognormal", 0.003, 0.5)
# After the run's arrivals stop, in-flight work may finish for at most this long.
_DRAIN_S = 86_400.0


@dataclass(frozen=True)
class LostMessage:
    """A message the broker dropped or expired; ``visible`` when a producer span of it reached
    the backend (an uninstrumented producer, or telemetry loss of all its producer spans,
    leaves a loss no span can show)."""

    trace_id: str | None
    message_id: str | None  # None when the scenario's producers set no message ids
    destination: str
    visible: bool


@dataclass
class ModelOutcome:
    """Everything the truth needs, gathered while the model ran."""

    services: dict[str, ServiceState]
    orders: list[OrderState]
    lost_messages: list[LostMessage] = field(default_factory=list)
    orphaned_spans: int = 0
    dropped_spans: int = 0
    end_s: float = 0.0


class Model:
    """One simulation run; ``run()`` fills the span collector and returns the outcome."""

    def __init__(
        self,
        scenario: Scenario,
        duration_s: float,
        load: float,
        seed: int,
        start_hour: float,
        collector: SpanCollector,
    ) -> None:
        self.scenario, self.duration_s, self.load, self.seed = scenario, duration_s, load, seed
        self.start_hour = start_hour
        self.spans = collector
        self.env = simpy.Environment()
        self.ids = random.Random(seed)
        self.uniform = Uniform(stream(seed, "uniform"))
        self.net = scenario.network_ms / 1000.0
        self.shape = scenario.instrumentation
        self.semconv = SEMCONV[self.shape.conventions]
        self.services: dict[str, ServiceState] = {}
        for spec in scenario.services.values():
            resource = [self._resource(spec.name, i) for i in range(spec.instances)]
            svc = ServiceState(self.env, spec.name, spec.instances, spec.threads, resource)
            for op_spec in spec.operations.values():
                sample = Sampler(op_spec.time, stream(seed, f"{spec.name}/{op_spec.name}"))
                svc.ops[op_spec.name] = OpState(op_spec, sample, self.semconv)
            self.services[spec.name] = svc
        for svc in self.services.values():
            for op in svc.ops.values():
                for step in op.spec.steps:
                    if isinstance(step, Publish):
                        op.steps.append(scenario.queues[step.destination])
                    else:
                        callee = self.services[step.service]
                        op.steps.append(
                            CallStep(step, callee, callee.ops[step.operation], self.semconv)
                        )
        self.publish_time = Sampler(_PUBLISH_TIME, stream(seed, "publish"))
        loss = scenario.telemetry_loss
        self.loss_p = loss.probability if loss else 0.0
        self.loss_services = set(loss.services) if loss and loss.services else None
        self.dropped: set[str] = set()
        # Services without OpenTelemetry: they emit nothing and propagate no trace context.
        self.dark = frozenset(scenario.uninstrumented)
        self.outcome = ModelOutcome(self.services, [])

    # -- ids and telemetry loss --------------------------------------------------------------

    def _resource(self, service: str, instance: int) -> int:
        return self.spans.resource_id(
            {
                "service.name": service,
                "service.instance.id": f"{service}-{instance}",
                "host.name": f"{service}-{instance}",
                "deployment.environment.name": "workshop-simulation",
            }
        )

    def _trace_id(self) -> str:
        return f"{self.ids.getrandbits(128) or 1:032x}"

    def _span_id(self, service: str) -> str:
        span_id = f"{self.ids.getrandbits(64) or 1:016x}"
        # Telemetry loss is decided when the span starts, so its children (which end first)
        # already know their parent will never arrive: they are the orphans.
        if (
            self.loss_p
            and (self.loss_services is None or service in self.loss_services)
            and self.uniform() < self.loss_p
        ):
            self.dropped.add(span_id)
        return span_id

    def _emit(
        self,
        trace_id: str,
        span_id: str,
        *,
        parent: str | None,
        service: str,
        operation: str,
        kind: str,
        start: float,
        attrs: tuple[tuple[str, ...], tuple[str, ...]],
        resource: int,
        status: str = "UNSET",
        message: str | None = None,
        link: tuple[str, str] | None = None,
        error_type: str | None = None,
    ) -> None:
        """Record a span that ends now (unless its service is dark or it was dropped)."""
        if service in self.dark:
            return
        if self.dropped and span_id in self.dropped:
            self.outcome.dropped_spans += 1
            return
        if parent is not None and parent in self.dropped:
            self.outcome.orphaned_spans += 1
        end = self.env.now
        event = None
        if error_type is not None:
            event = (
                "exception",
                end,
                ("exception.type", "exception.message"),
                (error_type, message or ""),
            )
        self.spans.add(
            trace_id,
            span_id,
            parent,
            service,
            operation,
            kind,
            start,
            end,
            status,
            message,
            attrs[0],
            attrs[1],
            resource,
            link,
            event,
        )

    # -- processes ---------------------------------------------------------------------------

    def run(self) -> ModelOutcome:
        env = self.env
        for flow in self.scenario.flows:
            rng = stream(self.seed, f"flow/{flow.name}")
            times = arrival_times(flow.per_minute, self.load, self.start_hour, self.duration_s, rng)
            if times.size:
                env.process(self._source(flow, times))
        for burst in self.scenario.error_bursts:
            svc = self.services[burst.service]
            ops = [svc.ops[burst.operation]] if burst.operation else list(svc.ops.values())
            for at in self._occurrences(burst.window):
                env.process(self._burst(ops, burst.rate, at, burst.window.duration_s))
        for stall in self.scenario.stalls:
            for at in self._occurrences(stall.window):
                env.process(
                    self._hold(
                        self.services[stall.service],
                        stall.workers,
                        None,
                        at,
                        stall.window.duration_s,
                        0.0,
                    )
                )
        for outage in self.scenario.outages:
            svc = self.services[outage.service]
            threads = svc.workers // svc.instances
            for at in self._occurrences(outage.window):
                env.process(
                    self._hold(
                        svc, threads, outage.instance, at, outage.window.duration_s, outage.detect_s
                    )
                )
        env.run(until=self.duration_s + _DRAIN_S)
        self.spans.flush()
        self.outcome.end_s = env.now
        return self.outcome

    def _occurrences(self, window: Window) -> list[float]:
        times, at = [], window.after_s
        while at < self.duration_s:
            times.append(at)
            if window.every_s is None:
                break
            at += window.every_s
        return times

    def _burst(self, ops: list[OpState], rate: float, at: float, duration: float) -> Any:
        yield self.env.timeout(at)
        for op in ops:
            op.extra_error += rate
        yield self.env.timeout(duration)
        for op in ops:
            op.extra_error -= rate

    def _hold(
        self,
        svc: ServiceState,
        workers: int,
        instance: int | None,
        at: float,
        duration: float,
        detect_s: float,
    ) -> Any:
        yield self.env.timeout(at)
        hold = Hold(workers, instance)
        svc.start_hold(hold)
        if instance is not None:
            svc.undetected += 1
            yield self.env.timeout(min(detect_s, duration))
            svc.undetected -= 1
            duration -= min(detect_s, duration)
        yield self.env.timeout(duration)
        svc.end_hold(hold)

    def _source(self, flow: Flow, times: np.ndarray) -> Any:
        env = self.env
        root = self._root
        svc = self.services[flow.service]
        op = svc.ops[flow.operation]
        caller_resource = self._resource(flow.caller, 0) if flow.caller else -1
        step = (
            CallStep(Call(flow.service, flow.operation), svc, op, self.semconv)
            if flow.caller
            else None
        )
        for at in times.tolist():
            yield env.timeout(at - env.now)
            env.process(root(flow, svc, op, step, caller_resource))

    def _root(
        self,
        flow: Flow,
        svc: ServiceState,
        op: OpState,
        step: CallStep | None,
        caller_resource: int,
    ) -> Any:
        state = OrderState(self._trace_id(), flow.is_order)
        if flow.is_order:
            self.outcome.orders.append(state)
        if step is not None and flow.caller is not None:
            yield from self._call(flow.caller, caller_resource, step, state.trace_id, None, state)
        else:
            token = yield svc.store.get()
            yield from self._handle(svc, op, token, state.trace_id, None, state, "server")

    def _handle(
        self,
        svc: ServiceState,
        op: OpState,
        token: int,
        trace_id: str,
        parent: str | None,
        state: OrderState,
        kind: str,
        link: tuple[str, str] | None = None,
        extra: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
        name: str | None = None,
    ) -> Any:
        """A worker (``token``) serves one request; returns the outcome code. ``name`` names
        the span when the instrumentation does not use the operation's name (consumers)."""
        env = self.env
        start = env.now
        if state.visible is None and svc.name not in self.dark:
            state.visible = trace_id
        span_id = self._span_id(svc.name)
        svc.arrivals += 1
        work = op.sample()
        outcome = OK
        rate = op.error_rate + op.extra_error
        if rate > 0 and self.uniform() < rate:
            # Fails part-way through its own work, before calling anything downstream.
            yield env.timeout(work * 0.5)
            outcome = FAILED
            state.fail(svc.name, "error")
        elif not op.steps:
            yield env.timeout(work)
        else:
            yield env.timeout(work * 0.5)
            resource = svc.resource[token]
            for step in op.steps:
                if isinstance(step, Queue):
                    yield from self._publish(svc.name, resource, step, trace_id, span_id, state)
                    continue
                count = step.repeat_min
                if step.repeat_span:
                    count += int(self.uniform() * (step.repeat_span + 1))
                for _ in range(count):
                    result = yield from self._call(
                        svc.name, resource, step, trace_id, span_id, state
                    )
                    if result != OK:
                        outcome = UPSTREAM
                        break
                if outcome != OK:
                    break
            if outcome == OK:
                yield env.timeout(work * 0.5)
        svc.release(token)
        svc.busy_start.append(start)
        svc.busy_end.append(env.now)
        if outcome == OK and svc.name == self.scenario.delivered_at:
            state.delivered = True
        attrs = op.server_attrs[outcome]
        if extra is not None:
            attrs = (attrs[0] + extra[0], attrs[1] + extra[1])
        status, message, error_type = SERVER_STATUS[outcome]
        self._emit(
            trace_id,
            span_id,
            parent=parent,
            service=svc.name,
            operation=name or op.name,
            kind=kind,
            start=start,
            attrs=attrs,
            resource=svc.resource[token],
            status=status,
            message=message,
            link=link,
            error_type=error_type,
        )
        return outcome

    def _serve(
        self, svc: ServiceState, op: OpState, trace_id: str, parent: str | None, state: OrderState
    ) -> Any:
        net = self.net
        if net:
            yield self.env.timeout(net)
        token = yield svc.store.get()
        outcome = yield from self._handle(svc, op, token, trace_id, parent, state, "server")
        if net:
            yield self.env.timeout(net)
        return outcome

    def _call(
        self,
        caller: str,
        resource: int,
        step: CallStep,
        trace_id: str,
        parent: str | None,
        state: OrderState,
    ) -> Any:
        """A CLIENT span around one synchronous request; returns the outcome code."""
        env = self.env
        start = env.now
        span_id = self._span_id(caller)
        callee = step.callee
        if caller in self.dark:
            # No trace context leaves an uninstrumented caller: the callee starts a new trace.
            callee_trace, callee_parent = self._trace_id(), None
        else:
            callee_trace, callee_parent = trace_id, span_id
            if state.visible is None:
                state.visible = trace_id
        if callee.undetected and self.uniform() * callee.instances < callee.undetected:
            if self.net:
                yield env.timeout(self.net)
            state.fail(callee.name, "instance_down")
            self._emit(
                trace_id,
                span_id,
                parent=parent,
                service=caller,
                operation=step.op.name,
                kind="client",
                start=start,
                attrs=step.attrs[REFUSED],
                resource=resource,
                status="ERROR",
                message=f"connection refused by {callee.name}",
                error_type="ConnectionRefusedError",
            )
            return REFUSED
        if step.timeout_s is None:
            result = yield from self._serve(callee, step.op, callee_trace, callee_parent, state)
        else:
            request = env.process(self._serve(callee, step.op, callee_trace, callee_parent, state))
            done = yield request | env.timeout(step.timeout_s)
            if request in done:
                result = done[request]
            else:
                result = TIMEOUT
                state.fail(callee.name, "timeout")
        if result == OK:
            status, message, error_type = "UNSET", None, None
        elif result == TIMEOUT:
            status, error_type = "ERROR", "TimeoutError"
            message = f"timeout after {step.timeout_s:g}s waiting for {callee.name}"
        else:
            status, error_type = "ERROR", None
            message = f"HTTP {'500' if result == FAILED else '502'} from {callee.name}"
        self._emit(
            trace_id,
            span_id,
            parent=parent,
            service=caller,
            operation=step.op.name,
            kind="client",
            start=start,
            attrs=step.attrs[result],
            resource=resource,
            status=status,
            message=message,
            error_type=error_type,
        )
        return OK if result == OK else UPSTREAM if result != TIMEOUT else TIMEOUT

    def _publish(
        self,
        service: str,
        resource: int,
        queue: Queue,
        trace_id: str,
        parent: str,
        state: OrderState,
    ) -> Any:
        env = self.env
        start = env.now
        nested = self.shape.producer_spans == "nested"
        outer_id = self._span_id(service) if nested else None
        span_id = self._span_id(service)
        message_id = f"{self.ids.getrandbits(128):032x}"
        shown_id = message_id if self.shape.message_ids else None
        took = self.publish_time()
        attrs = self.semconv.send(queue.system, queue.destination, shown_id)
        name = self.semconv.send_name(queue.destination)

        def emit(send_id: str, parent_id: str | None, began: float) -> None:
            self._emit(
                trace_id,
                send_id,
                parent=parent_id,
                service=service,
                operation=name,
                kind="producer",
                start=began,
                attrs=attrs,
                resource=resource,
            )

        if outer_id is None:
            yield env.timeout(took)
            emit(span_id, parent, start)
        else:
            # pika wraps the channel's publish in the blocking channel's: the outer span opens
            # first and closes last, the inner one carries the context the consumer continues.
            yield env.timeout(took * 0.1)
            inner_start = env.now
            yield env.timeout(took * 0.8)
            emit(span_id, outer_id, inner_start)
            yield env.timeout(took * 0.1)
            emit(outer_id, parent, start)
        dark = service in self.dark
        visible = not dark and not {span_id, outer_id} - {None} <= self.dropped
        if dark:
            # An uninstrumented producer puts no trace context into the message.
            env.process(self._deliver(queue, None, None, message_id, state, visible))
        else:
            if state.visible is None:
                state.visible = trace_id
            env.process(self._deliver(queue, trace_id, span_id, message_id, state, visible))

    def _deliver(
        self,
        queue: Queue,
        trace_id: str | None,
        producer: str | None,
        message_id: str,
        state: OrderState,
        visible: bool,
    ) -> Any:
        env = self.env
        svc = self.services[queue.consumer]
        shown_id = message_id if self.shape.message_ids else None
        lost = LostMessage(trace_id, shown_id, queue.destination, visible)
        component = f"queue:{queue.destination}"
        if queue.loss and self.uniform() < queue.loss:
            self.outcome.lost_messages.append(lost)
            state.fail(component, "message_lost", shown_id)
            return
        get = svc.store.get()
        if queue.ttl_s is None:
            token = yield get
        else:
            yield get | env.timeout(queue.ttl_s)
            # A worker handed over at the very instant the TTL ran out still takes the message
            # (cancelling then would leak that worker).
            if not get.triggered:
                get.cancel()
                self.outcome.lost_messages.append(lost)
                state.fail(component, "message_expired", shown_id)
                return
            token = get.value
        link = None
        consumer_trace, parent = self._trace_id(), None
        if trace_id is not None and producer is not None:
            if self.shape.consumer in ("linked", "child_linked"):
                link = (trace_id, producer)
            if self.shape.consumer in ("child", "child_linked"):
                consumer_trace, parent = trace_id, producer
        yield from self._handle(
            svc,
            svc.ops[queue.operation],
            token,
            consumer_trace,
            parent,
            state,
            "consumer",
            link,
            self.semconv.receive(queue.system, queue.destination, shown_id),
            name=self.semconv.receive_name(queue.destination),
        )
