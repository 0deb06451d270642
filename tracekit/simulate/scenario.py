"""A scenario as data: services, flows, queues and faults (``load_scenario`` builds one from
YAML; see docs/simulator.md for the format)."""

from __future__ import annotations

from dataclasses import dataclass, field

DISTRIBUTIONS = ("lognormal", "gamma", "exponential", "constant")
CONVENTIONS = ("old", "current")
PRODUCER_SPANS = ("one", "nested")
CONSUMER_SHAPES = ("child", "linked", "child_linked")


@dataclass(frozen=True)
class Distribution:
    """A service-time distribution given by its mean and coefficient of variation."""

    kind: str
    mean_s: float
    cv: float


@dataclass(frozen=True)
class Call:
    """A synchronous downstream call (client span, then the callee's server span)."""

    service: str
    operation: str
    repeat_min: int = 1
    repeat_max: int = 1
    timeout_s: float | None = None


@dataclass(frozen=True)
class Publish:
    """Publishing a message (PRODUCER span) to a queue destination."""

    destination: str


@dataclass(frozen=True)
class Operation:
    """One operation of a service: its own work, error rate and downstream steps."""

    name: str
    time: Distribution
    error_rate: float = 0.0
    steps: tuple[Call | Publish, ...] = ()


@dataclass(frozen=True)
class Service:
    """A service: ``instances`` x ``threads`` workers share one FIFO queue of requests."""

    name: str
    instances: int
    threads: int
    operations: dict[str, Operation]

    @property
    def workers(self) -> int:
        return self.instances * self.threads


@dataclass(frozen=True)
class Flow:
    """A stream of root requests with a rate (per minute) by hour of day (UTC)."""

    name: str
    service: str
    operation: str
    per_minute: tuple[float, ...]
    caller: str | None = None
    is_order: bool = False


@dataclass(frozen=True)
class Queue:
    """A message destination, the service whose workers consume it, and its losses."""

    destination: str
    consumer: str
    operation: str
    system: str = "rabbitmq"
    loss: float = 0.0
    ttl_s: float | None = None


@dataclass(frozen=True)
class Window:
    """A recurring fault window: first at ``after_s`` from the start, then every ``every_s``."""

    after_s: float
    duration_s: float
    every_s: float | None = None


@dataclass(frozen=True)
class ErrorBurst:
    """Extra error probability on a service (or one operation) during windows."""

    service: str
    operation: str | None
    rate: float
    window: Window


@dataclass(frozen=True)
class Stall:
    """``workers`` workers of a service hang (take no work) during windows."""

    service: str
    workers: int
    window: Window


@dataclass(frozen=True)
class Outage:
    """One instance of a service is down during windows; callers see connection errors until
    the load balancer notices after ``detect_s``."""

    service: str
    instance: int
    window: Window
    detect_s: float = 15.0


@dataclass(frozen=True)
class TelemetryLoss:
    """Spans dropped before reaching the backend (business is unaffected)."""

    probability: float
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class Instrumentation:
    """How the simulated services' instrumentation records spans, as real libraries do.

    The defaults are what the Python instrumentations (flask, requests, pika) emit today, as
    the real pipeline (tests/realsys/pipeline) records them: old convention names, two nested
    producer spans per publish, the consumer a child of the inner one with no link, message
    ids when the producer sets them.
    """

    conventions: str = "old"  # CONVENTIONS, see semconv.py
    producer_spans: str = "nested"  # one | nested
    consumer: str = "child"  # child (same trace) | linked (own trace, span link) | child_linked
    message_ids: bool = True


@dataclass(frozen=True)
class Scenario:
    """A whole simulated system."""

    name: str
    description: str
    services: dict[str, Service]
    flows: tuple[Flow, ...]
    queues: dict[str, Queue] = field(default_factory=dict)
    instrumentation: Instrumentation = field(default_factory=Instrumentation)
    network_ms: float = 0.5
    delivered_at: str | None = None
    error_bursts: tuple[ErrorBurst, ...] = ()
    stalls: tuple[Stall, ...] = ()
    outages: tuple[Outage, ...] = ()
    telemetry_loss: TelemetryLoss | None = None
    uninstrumented: tuple[str, ...] = ()
