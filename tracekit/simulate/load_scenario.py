"""Scenario files: YAML describing services, flows, queues and faults, validated into dataclasses.

A scenario is data, not code: ``load_scenario("baseline")`` reads a built-in file from
``tracekit/scenarios/``; ``load_scenario("my.yaml")`` reads the user's own. Every mistake is
reported as one ``UserError`` line naming the file and the key, e.g.
``my.yaml: services.mes.threads: must be a positive integer, got 0``.
See docs/simulator.md for the format.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tracekit.errors import UserError
from tracekit.simulate.scenario import (
    CONSUMER_SHAPES,
    CONVENTIONS,
    DISTRIBUTIONS,
    PRODUCER_SPANS,
    Call,
    Distribution,
    ErrorBurst,
    Flow,
    Instrumentation,
    Operation,
    Outage,
    Publish,
    Queue,
    Scenario,
    Service,
    Stall,
    TelemetryLoss,
    Window,
)
from tracekit.times import duration_seconds


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``tracekit/scenarios/``."""
    folder = resources.files("tracekit").joinpath("scenarios")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a built-in scenario by name, or a scenario YAML file by path.

    >>> load_scenario("baseline").services["mes"].workers  # doctest: +SKIP
    4
    """
    data, label = _load_data(str(name_or_path), ())
    return parse_scenario(data, label)


def _load_data(name_or_path: str, seen: tuple[str, ...]) -> tuple[Any, str]:
    """Parsed YAML with ``extends: BASE`` resolved (mappings merge, everything else replaces)."""
    text, label = _read(name_or_path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(f"{label}: malformed YAML{where}: {problem}") from exc
    if isinstance(data, dict) and "extends" in data:
        base_name = data.pop("extends")
        if not isinstance(base_name, str):
            raise UserError(f"{label}: extends: must be a scenario name or file")
        if label in seen:
            raise UserError(f"{label}: extends: scenarios extend each other in a loop")
        base_path = Path(label).parent / base_name
        if (
            base_name.endswith((".yaml", ".yml"))
            and not Path(base_name).is_absolute()
            and base_path.exists()
        ):
            base_name = str(base_path)
        base, _ = _load_data(base_name, (*seen, label))
        if not isinstance(base, dict):
            raise UserError(f"{label}: extends: {base_name} is not a scenario mapping")
        base.pop("name", None)
        base.pop("description", None)
        data = _merge(base, data)
    return data, label


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read(name_or_path: str) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in name_or_path:
        try:
            return path.read_text(), str(path)
        except OSError as exc:
            raise UserError(f"{path}: cannot read scenario file: {exc.strerror}") from exc
    if name_or_path not in builtin_scenarios():
        known = ", ".join(builtin_scenarios())
        raise UserError(f"unknown scenario {name_or_path!r}; built in: {known} (or a YAML file)")
    ref = resources.files("tracekit").joinpath("scenarios", f"{name_or_path}.yaml")
    return ref.read_text(), name_or_path


# -- parsing -------------------------------------------------------------------------------------


def parse_duration(value: Any, where: str = "duration") -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h30m"``, ``"1d"``.

    >>> parse_duration("2h30m")
    9000.0
    """
    if isinstance(value, bool):
        raise UserError(f"{where}: expected a duration like 30s, 15m, 1h, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        try:
            seconds = duration_seconds(value)
        except ValueError:
            raise UserError(
                f"{where}: expected a duration like 30s, 15m, 1h, got {value!r}"
            ) from None
    if not seconds >= 0:
        raise UserError(f"{where}: must not be negative, got {value!r}")
    return seconds


class _Reader:
    """Checks one YAML mapping, naming ``file: path.to.key`` in every error."""

    def __init__(self, data: Any, label: str, path: str) -> None:
        self.label, self.path = label, path
        if not isinstance(data, dict):
            self.fail(f"expected a mapping, got {_kind(data)}")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def where(self, key: str | None = None) -> str:
        path = f"{self.path}.{key}" if self.path and key else (key or self.path or "(top)")
        return f"{self.label}: {path}"

    def fail(self, message: str, key: str | None = None) -> None:
        raise UserError(f"{self.where(key)}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.data.get(key, default)

    def child(self, key: str) -> _Reader:
        self.used.add(key)
        if key not in self.data:
            self.fail("is required", key)
        return _Reader(self.data[key], self.label, f"{self.path}.{key}" if self.path else key)

    def text(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self.raw(key, default)
        if value is None:
            self.fail("is required", key)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"must be a non-empty string, got {value!r}", key)
        if choices and value not in choices:
            self.fail(f"must be one of {', '.join(choices)}, got {value!r}", key)
        return str(value)

    def number(
        self,
        key: str,
        default: float | None = None,
        low: float = 0.0,
        high: float | None = None,
        positive: bool = False,
    ) -> float:
        value = self.raw(key, default)
        if value is None:
            self.fail("is required", key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"must be a number, got {value!r}", key)
        if value < low or (positive and value <= 0) or (high is not None and value > high):
            bounds = (
                f"in [{low}, {high}]"
                if high is not None
                else ("positive" if positive else f">= {low}")
            )
            self.fail(f"must be {bounds}, got {value!r}", key)
        return float(value)

    def integer(self, key: str, default: int | None = None, low: int = 1) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            word = "a positive integer" if low == 1 else f"an integer >= {low}"
            self.fail(f"must be {word}, got {value!r}", key)
        return int(value)

    def duration(self, key: str, default: Any = None) -> float | None:
        value = self.raw(key, default)
        return None if value is None else parse_duration(value, self.where(key))

    def done(self) -> None:
        unknown = sorted(set(map(str, self.data)) - self.used)
        if unknown:
            self.fail(f"unknown key {unknown[0]!r}")


def parse_scenario(data: Any, label: str = "scenario") -> Scenario:
    """Validate parsed YAML into a Scenario; raises UserError naming the file and key."""
    top = _Reader(data, label, "")
    name = top.text("name", default=Path(label).stem)
    description = str(top.raw("description", "") or "")
    instrumentation = _instrumentation(top)
    network_ms = top.number("network_ms", 0.5)
    services = {svc: _service(top.child("services"), svc) for svc in _keys(top, "services")}
    queues = {q: _queue(top.child("queues"), q) for q in _keys(top, "queues", required=False)}
    flows = tuple(_flow(top.child("flows"), f) for f in _keys(top, "flows"))
    delivered_at = top.raw("delivered_at")
    uninstrumented = tuple(_str_list(top, "uninstrumented"))
    faults = top.child("faults") if top.has("faults") else None
    bursts: list[ErrorBurst] = []
    stalls: list[Stall] = []
    outages: list[Outage] = []
    loss: TelemetryLoss | None = None
    if faults is not None:
        bursts = [_burst(r) for r in _items(faults, "error_bursts")]
        stalls = [_stall(r) for r in _items(faults, "stalls")]
        outages = [_outage(r) for r in _items(faults, "outages")]
        if faults.has("telemetry_loss"):
            tl = faults.child("telemetry_loss")
            loss = TelemetryLoss(
                tl.number("probability", high=1.0), tuple(_str_list(tl, "services"))
            )
            tl.done()
        faults.done()
    top.done()
    scenario = Scenario(
        name,
        description,
        services,
        flows,
        queues,
        instrumentation,
        network_ms,
        delivered_at,
        tuple(bursts),
        tuple(stalls),
        tuple(outages),
        loss,
        uninstrumented,
    )
    _check_references(scenario, label)
    return scenario


# The former `consumer_trace` key, still read (and taking precedence over `instrumentation`
# inherited from a base scenario): `same` was a child that also links to its producer, `new` a
# trace of its own with a link.
_CONSUMER_TRACE = {"same": "child_linked", "new": "linked"}


def _instrumentation(top: _Reader) -> Instrumentation:
    default = Instrumentation()
    result = default
    if top.has("instrumentation"):
        reader = top.child("instrumentation")
        ids = reader.raw("message_ids", default.message_ids)
        if not isinstance(ids, bool):
            reader.fail(f"must be true or false, got {ids!r}", "message_ids")
        result = Instrumentation(
            reader.text("conventions", default.conventions, CONVENTIONS),
            reader.text("producer_spans", default.producer_spans, PRODUCER_SPANS),
            reader.text("consumer", default.consumer, CONSUMER_SHAPES),
            ids,
        )
        reader.done()
    if top.has("consumer_trace"):
        legacy = top.text("consumer_trace", choices=tuple(_CONSUMER_TRACE))
        result = replace(result, consumer=_CONSUMER_TRACE[legacy])
    return result


def _keys(reader: _Reader, key: str, required: bool = True) -> list[str]:
    value = reader.raw(key)
    if value is None and not required:
        return []
    if not isinstance(value, dict) or not value:
        reader.fail("must be a non-empty mapping", key)
    return [str(k) for k in value]


def _items(reader: _Reader, key: str) -> list[_Reader]:
    value = reader.raw(key, [])
    if not isinstance(value, list):
        reader.fail(f"must be a list, got {_kind(value)}", key)
    return [
        _Reader(item, reader.label, f"{reader.path}.{key}[{i}]") for i, item in enumerate(value)
    ]


def _str_list(reader: _Reader, key: str) -> list[str]:
    value = reader.raw(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        reader.fail("must be a list of names", key)
    return list(value)


def _service(parent: _Reader, name: str) -> Service:
    svc = parent.child(name)
    instances = svc.integer("instances", 1)
    threads = svc.integer("threads")
    ops_reader = svc.child("operations")
    operations = {op: _operation(ops_reader, op) for op in _keys(svc, "operations")}
    svc.done()
    return Service(name, instances, threads, operations)


def _operation(parent: _Reader, name: str) -> Operation:
    op = parent.child(name)
    time = _distribution(op.child("time"))
    error_rate = op.number("error_rate", 0.0, high=1.0)
    steps: list[Call | Publish] = []
    for step in _items(op, "calls"):
        if step.has("publish"):
            steps.append(Publish(step.text("publish")))
        else:
            repeat = step.raw("repeat", 1)
            if isinstance(repeat, dict):
                rep = _Reader(repeat, step.label, f"{step.path}.repeat")
                low, high = rep.integer("min", low=0), rep.integer("max", low=0)
                rep.done()
                if high < low:
                    step.fail(f"max ({high}) is below min ({low})", "repeat")
            else:
                low = high = step.integer("repeat", 1, low=0)
            timeout = step.duration("timeout")
            steps.append(Call(step.text("service"), step.text("operation"), low, high, timeout))
        step.done()
    op.done()
    return Operation(name, time, error_rate, tuple(steps))


def _distribution(reader: _Reader) -> Distribution:
    kind = reader.text("dist", choices=DISTRIBUTIONS)
    mean_ms = reader.number("mean_ms", positive=True)
    if kind == "exponential":
        cv = 1.0
    elif kind == "constant":
        cv = 0.0
    else:
        cv = reader.number("cv", positive=True)
    reader.done()
    return Distribution(kind, mean_ms / 1000.0, cv)


def _flow(parent: _Reader, name: str) -> Flow:
    flow = parent.child(name)
    rate = flow.raw("per_minute")
    values = rate if isinstance(rate, list) else [rate]
    if len(values) not in (1, 24) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values
    ):
        flow.fail("must be a rate >= 0 or a list of 24 rates (one per UTC hour)", "per_minute")
    caller = flow.raw("caller")
    if caller is not None and not isinstance(caller, str):
        flow.fail("must be a service name", "caller")
    result = Flow(
        name,
        flow.text("service"),
        flow.text("operation"),
        tuple(float(v) for v in values),
        caller,
        bool(flow.raw("order", False)),
    )
    flow.done()
    return result


def _queue(parent: _Reader, name: str) -> Queue:
    q = parent.child(name)
    result = Queue(
        name,
        q.text("consumer"),
        q.text("operation"),
        q.text("system", "rabbitmq"),
        q.number("loss", 0.0, high=1.0),
        q.duration("ttl"),
    )
    q.done()
    return result


def _window(reader: _Reader) -> Window:
    after = reader.duration("after", 0) or 0.0
    duration = reader.duration("duration")
    if duration is None:
        reader.fail("is required", "duration")
    every = reader.duration("every")
    if every is not None and every <= (duration or 0):
        reader.fail("must be longer than duration", "every")
    return Window(after, float(duration or 0), every)


def _burst(reader: _Reader) -> ErrorBurst:
    op = reader.raw("operation")
    result = ErrorBurst(
        reader.text("service"),
        None if op is None else str(op),
        reader.number("rate", high=1.0),
        _window(reader),
    )
    reader.done()
    return result


def _stall(reader: _Reader) -> Stall:
    result = Stall(reader.text("service"), reader.integer("workers"), _window(reader))
    reader.done()
    return result


def _outage(reader: _Reader) -> Outage:
    result = Outage(
        reader.text("service"),
        reader.integer("instance", low=0),
        _window(reader),
        reader.duration("detect", 15.0) or 0.0,
    )
    reader.done()
    return result


def _check_references(s: Scenario, label: str) -> None:
    """Names must resolve and synchronous calls must not loop."""

    def need_op(service: str, operation: str, where: str) -> None:
        if service not in s.services:
            raise UserError(f"{label}: {where}: unknown service {service!r}")
        if operation not in s.services[service].operations:
            raise UserError(f"{label}: {where}: service {service!r} has no operation {operation!r}")

    for flow in s.flows:
        need_op(flow.service, flow.operation, f"flows.{flow.name}")
        if flow.caller is not None and flow.caller in s.services:
            raise UserError(
                f"{label}: flows.{flow.name}.caller: {flow.caller!r} is a simulated "
                "service; a caller is an outside client"
            )
    for queue in s.queues.values():
        need_op(queue.consumer, queue.operation, f"queues.{queue.destination}")
    for svc in s.services.values():
        for op in svc.operations.values():
            for i, step in enumerate(op.steps):
                where = f"services.{svc.name}.operations.{op.name}.calls[{i}]"
                if isinstance(step, Publish):
                    if step.destination not in s.queues:
                        raise UserError(f"{label}: {where}: unknown queue {step.destination!r}")
                else:
                    need_op(step.service, step.operation, where)
    for name in s.uninstrumented:
        if name not in s.services and name not in {flow.caller for flow in s.flows}:
            raise UserError(f"{label}: uninstrumented: unknown service {name!r}")
    if s.delivered_at is not None and s.delivered_at not in s.services:
        raise UserError(f"{label}: delivered_at: unknown service {s.delivered_at!r}")
    named: list[tuple[str, tuple[ErrorBurst | Stall | Outage, ...]]] = [
        ("error_bursts", s.error_bursts),
        ("stalls", s.stalls),
        ("outages", s.outages),
    ]
    for kind, faults in named:
        for i, fault in enumerate(faults):
            if fault.service not in s.services:
                raise UserError(f"{label}: faults.{kind}[{i}]: unknown service {fault.service!r}")
            if (
                isinstance(fault, ErrorBurst)
                and fault.operation is not None
                and fault.operation not in s.services[fault.service].operations
            ):
                raise UserError(
                    f"{label}: faults.{kind}[{i}]: service {fault.service!r} has no "
                    f"operation {fault.operation!r}"
                )
    for i, outage in enumerate(s.outages):
        if outage.instance >= s.services[outage.service].instances:
            raise UserError(
                f"{label}: faults.outages[{i}].instance: {outage.service} has "
                f"{s.services[outage.service].instances} instances (0-based index)"
            )
    for i, stall in enumerate(s.stalls):
        if stall.workers > s.services[stall.service].workers:
            raise UserError(
                f"{label}: faults.stalls[{i}].workers: more than the "
                f"{s.services[stall.service].workers} workers of {stall.service}"
            )
    _check_cycles(s, label)


def _check_cycles(s: Scenario, label: str) -> None:
    state: dict[tuple[str, str], int] = {}

    def visit(node: tuple[str, str], trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            loop = " -> ".join([*trail, f"{node[0]}:{node[1]}"])
            raise UserError(f"{label}: synchronous calls loop: {loop}")
        state[node] = 1
        for step in s.services[node[0]].operations[node[1]].steps:
            if isinstance(step, Call):
                visit((step.service, step.operation), [*trail, f"{node[0]}:{node[1]}"])
        state[node] = 2

    for svc in s.services.values():
        for op in svc.operations:
            visit((svc.name, op), [])


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), repr(value))
