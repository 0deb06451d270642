"""Run the workshop's order pipeline for real and record what happened to every order.

shop-api (uninstrumented) -> mes-api (Flask, requests) -> mes (Flask, pika) -> RabbitMQ queue
`orders` -> crm (pika consumer): the services of this folder, in their own virtual environment
with the real OpenTelemetry instrumentations, exporting OTLP to a real Jaeger; a real RabbitMQ
broker (scripts/rabbitmq.py). The driver decides every order's fate in advance (FATES), sends
the orders through shop-api, then takes the ground truth from the real systems' own records:
each order's HTTP answer, crm's log, the broker's dead-lettered messages (with RabbitMQ's
`x-death` reason: `expired` or `rejected`) and its count of unroutable messages dropped. It
raises PipelineError when any of them disagrees with the plan. Finally it exports the spans with
tracekit's own export into a dataset.

By hand (with Jaeger and RabbitMQ up, see scripts/*.py), e.g.::

    .venv/bin/python -m tests.realsys.pipeline.run --out /tmp/pipeline \\
        --amqp-state ~/.cache/tracekit/rabbitmq/run/rabbitmq.json --jaeger http://127.0.0.1:16686
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]

# fate -> the order fields that make the services produce it
FATES: dict[str, dict[str, Any]] = {
    "delivered": {"channel": "standard"},
    "expired": {"channel": "express"},  # to a queue nobody consumes; its TTL expires it
    "unroutable": {"channel": "priority"},  # a routing key no queue is bound to
    "rejected_error": {"channel": "standard", "valid": False, "reject": "raise"},
    "rejected_quiet": {"channel": "standard", "valid": False, "reject": "quiet"},
    "failed_mes_api": {"channel": "standard", "fail_at": "mes-api"},
    "failed_mes": {"channel": "standard", "fail_at": "mes"},
    "telemetry_consumer": {"channel": "standard", "telemetry": "consumer"},
    "telemetry_all": {"channel": "standard", "telemetry": "all"},
}
LOST_IN_BROKER = frozenset({"expired", "unroutable"})
REJECTED = frozenset({"rejected_error", "rejected_quiet"})
FAILED_HTTP = {"failed_mes_api": ("mes-api", 500), "failed_mes": ("mes", 502)}
MISSING_TELEMETRY = frozenset({"telemetry_consumer", "telemetry_all"})
REACHES_CRM = frozenset({"delivered", *REJECTED, *MISSING_TELEMETRY})
SERVICES = ("shop-api", "mes-api", "mes", "crm")
EXPRESS_TTL_MS = 1000


class PipelineError(Exception):
    """The pipeline did not run as planned (a service failed, or the records disagree)."""


@dataclass(frozen=True)
class Variant:
    """One way of running the pipeline."""

    name: str
    orders: int = 300
    message_ids: bool = True
    crm_delay_s: float = 0.0
    interval_s: float = 0.0  # pause between orders
    mixed_fates: bool = True  # False: every order is delivered


VARIANTS = {
    "ids": Variant("ids"),
    "no-ids": Variant("no-ids", message_ids=False),
    # crm slower than the arrivals: messages wait seconds in the broker.
    "slow": Variant("slow", orders=50, crm_delay_s=0.4, interval_s=0.15, mixed_fates=False),
}


@dataclass
class Order:
    """One order: its planned fate and what the real systems recorded about it."""

    order_id: str
    fate: str
    http_status: int = 0
    trace_id: str | None = None
    crm: str | None = None  # crm's log: delivered | rejected
    dead_letter: str | None = None  # the broker's x-death reason: expired | rejected


@dataclass
class PipelineRun:
    """A finished run: the dataset tracekit exported and the orders with their records."""

    variant: Variant
    seed: int
    dataset: Path
    orders: list[Order]
    broker: dict[str, Any] = field(default_factory=dict)
    window_us: tuple[int, int] = (0, 0)

    @property
    def export_window_us(self) -> tuple[int, int]:
        """The window tracekit exports: the run's, with a second either side."""
        return self.window_us[0] - 1_000_000, self.window_us[1] + 1_000_000

    def by_fate(self, *fates: str) -> list[Order]:
        return [o for o in self.orders if o.fate in fates]

    def to_json(self) -> str:
        data = asdict(self)
        data["dataset"] = str(self.dataset)
        return json.dumps(data, indent=1)


def load_script(name: str) -> ModuleType:
    """Import scripts/NAME.py (not a package) as the module ``tracekit_NAME_script``."""
    module_name = f"tracekit_{name}_script"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def plan(variant: Variant, seed: int) -> list[Order]:
    """The orders and their fates, shuffled; each fate but `delivered` 8-20 times."""
    rng = random.Random(seed)
    fates: list[str] = []
    if variant.mixed_fates:
        for fate in FATES:
            if fate != "delivered":
                fates += [fate] * rng.randint(8, 20)
    fates += ["delivered"] * (variant.orders - len(fates))
    rng.shuffle(fates)
    return [Order(f"order-{seed}-{i:04d}", fate) for i, fate in enumerate(fates)]


class _Broker:
    """The management API calls the run needs, on one broker instance."""

    def __init__(self, script: ModuleType, instance: Any) -> None:
        self.script, self.instance = script, instance

    def api(self, path: str, body: Any = None, method: str | None = None) -> Any:
        return self.script.api(self.instance, path, body, method)

    def reset(self) -> None:
        """Fresh queues: `orders` and `orders.express` dead-letter into `orders.dead`."""
        for name in ("orders", "orders.express", "orders.dead"):
            try:
                self.api(f"/api/queues/%2F/{name}", method="DELETE")
            except self.script.RabbitMQError as error:
                if "404" not in str(error):
                    raise
        self.api("/api/exchanges/%2F/orders.dlx", {"type": "fanout", "durable": True}, "PUT")
        self.api("/api/queues/%2F/orders.dead", {"durable": True}, "PUT")
        self.api("/api/bindings/%2F/e/orders.dlx/q/orders.dead", {"routing_key": ""}, "POST")
        dlx = {"x-dead-letter-exchange": "orders.dlx"}
        self.api("/api/queues/%2F/orders", {"durable": True, "arguments": dlx}, "PUT")
        express = {**dlx, "x-message-ttl": EXPRESS_TTL_MS}
        self.api("/api/queues/%2F/orders.express", {"durable": True, "arguments": express}, "PUT")

    def queue(self, name: str) -> dict[str, Any]:
        answer = self.script.queue(self.instance, name)
        return answer if isinstance(answer, dict) else {}

    def unroutable_dropped(self) -> int:
        stats = self.api("/api/overview").get("message_stats") or {}
        return int(stats.get("drop_unroutable", 0))

    def dead_letters(self) -> list[tuple[str, str, str]]:
        """(order id, reason, queue) of every dead-lettered message, taken off `orders.dead`."""
        got = self.api(
            "/api/queues/%2F/orders.dead/get",
            {"count": 100_000, "ackmode": "ack_requeue_false", "encoding": "auto"},
        )
        letters = []
        for message in got:
            death = message["properties"]["headers"]["x-death"][0]
            letters.append(
                (json.loads(message["payload"])["order_id"], death["reason"], death["queue"])
            )
        return letters


class _Services:
    """The four service processes, started in the pipeline's environment, stopped by pid."""

    def __init__(self, python: Path, folder: Path) -> None:
        self.python, self.folder = python, folder
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, env: dict[str, str]) -> None:
        script = HERE / f"{name.replace('-', '_')}.py"
        full_env = {
            **os.environ,
            **env,
            "OTEL_SERVICE_NAME": name,
            "PIPELINE_STATS": str(self.folder / f"{name}.stats.json"),
            "PYTHONUNBUFFERED": "1",
        }
        with open(self.folder / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                [str(self.python), str(script)],
                cwd=HERE,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise PipelineError(f"{name} exited ({process.returncode}): {self.log_tail(name)}")

    def log_tail(self, name: str) -> str:
        text = (self.folder / f"{name}.log").read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-8:])

    def stop(self) -> dict[str, dict[str, int]]:
        """SIGTERM each (they flush their spans and exit); returns their export stats."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise PipelineError(f"{name} did not stop on SIGTERM") from None
        stats = {}
        for name in self.processes:
            path = self.folder / f"{name}.stats.json"
            if path.exists():
                stats[name] = json.loads(path.read_text())
        return stats


def _wait(what: str, check: Any, timeout: float, services: _Services | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if services is not None:
            services.check_alive()
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise PipelineError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def run_pipeline(
    variant: Variant,
    *,
    python: Path,
    rabbitmq: Any,
    jaeger_otlp_url: str,
    jaeger_query_url: str,
    folder: Path,
    seed: int,
) -> PipelineRun:
    """Run one variant end to end; returns the exported dataset and the confirmed fates."""
    rabbit = load_script("rabbitmq")
    broker = _Broker(rabbit, rabbitmq)
    folder.mkdir(parents=True, exist_ok=True)
    broker.reset()
    unroutable_before = broker.unroutable_dropped()
    orders = plan(variant, seed)
    ports = dict(zip(SERVICES, rabbit.free_ports(len(SERVICES)), strict=True))
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    crm_log = folder / "crm.jsonl"
    common = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger_otlp_url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "AMQP_URL": rabbitmq.amqp_url,
    }
    services = _Services(python, folder)
    started_us = int(time.time() * 1e6)
    try:
        services.start(
            "crm", {**common, "CRM_LOG": str(crm_log), "CRM_DELAY_S": str(variant.crm_delay_s)}
        )
        services.start(
            "mes",
            {
                **common,
                "PORT": str(ports["mes"]),
                "MESSAGE_IDS": "1" if variant.message_ids else "0",
            },
        )
        services.start("mes-api", {**common, "PORT": str(ports["mes-api"]), "MES_URL": url["mes"]})
        services.start("shop-api", {"PORT": str(ports["shop-api"]), "MES_API_URL": url["mes-api"]})
        for name in ("mes", "mes-api", "shop-api"):
            _wait(f"{name} to answer", lambda n=name: _answers(f"{url[n]}/health"), 60, services)
        _wait(
            "crm to consume `orders`",
            lambda: broker.queue("orders").get("consumers") == 1,
            60,
            services,
        )
        for order in orders:
            body = {"order_id": order.order_id, **FATES[order.fate]}
            answer = requests.post(f"{url['shop-api']}/orders", json=body, timeout=30)
            order.http_status = answer.status_code
            order.trace_id = answer.headers.get("X-Trace-Id")
            if variant.interval_s:
                time.sleep(variant.interval_s)
        to_crm = sum(o.fate in REACHES_CRM for o in orders)
        _wait(
            "crm to log every message",
            lambda: _lines(crm_log) >= to_crm,
            120 + to_crm * variant.crm_delay_s,
            services,
        )
        expected_dead = sum(o.fate == "expired" or o.fate in REJECTED for o in orders)
        _wait(
            "dead letters",
            lambda: broker.queue("orders.dead").get("messages", 0) >= expected_dead,
            60,
            services,
        )
        _wait("queues to drain", lambda: _drained(broker), 30, services)
        stats = services.stop()
    except BaseException:
        services.stop()
        raise
    finished_us = int(time.time() * 1e6)
    run = PipelineRun(
        variant, seed, folder / "dataset", orders, window_us=(started_us, finished_us)
    )
    _record_truth(run, broker, crm_log, unroutable_before)
    exported = sum(s["exported"] for s in stats.values())
    run.broker["spans_exported"] = exported
    run.broker["spans_lost"] = sum(s["lost"] for s in stats.values())
    _export(run, jaeger_query_url, exported)
    (folder / "run.json").write_text(run.to_json())
    return run


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _drained(broker: _Broker) -> bool:
    orders, express = broker.queue("orders"), broker.queue("orders.express")
    return (
        orders.get("messages") == 0
        and orders.get("messages_unacknowledged") == 0
        and express.get("messages") == 0
    )


def _record_truth(run: PipelineRun, broker: _Broker, crm_log: Path, unroutable_before: int) -> None:
    """Fill each order's records from the real systems and check them against the plan."""
    by_id = {o.order_id: o for o in run.orders}
    for line in crm_log.read_text().splitlines():
        entry = json.loads(line)
        by_id[entry["order_id"]].crm = entry["outcome"]
    letters = broker.dead_letters()
    for order_id, reason, _queue in letters:
        by_id[order_id].dead_letter = reason
    unroutable = broker.unroutable_dropped() - unroutable_before
    orders_queue = broker.queue("orders")
    run.broker.update(
        unroutable_dropped=unroutable,
        dead_letters=dict(Counter(f"{reason} from {q}" for _, reason, q in letters)),
        orders_acked=(orders_queue.get("message_stats") or {}).get("ack", 0),
    )
    problems = []
    for order in run.orders:
        got = (order.http_status, order.crm, order.dead_letter)
        if got != expected_records(order.fate) or not order.trace_id:
            problems.append(f"{order.order_id} ({order.fate}): {got}, trace {order.trace_id}")
    planned = len(run.by_fate("unroutable"))
    if unroutable != planned:
        problems.append(f"broker dropped {unroutable} unroutable messages, planned {planned}")
    acked = sum(o.fate in REACHES_CRM - REJECTED for o in run.orders)
    if run.broker["orders_acked"] != acked:
        problems.append(f"broker counted {run.broker['orders_acked']} acks, crm acked {acked}")
    if problems:
        listed = "; ".join(problems[:5])
        raise PipelineError(f"{len(problems)} records disagree with the plan: {listed}")


def expected_records(fate: str) -> tuple[int, str | None, str | None]:
    """(HTTP status, crm's log, dead-letter reason) the real systems must record for a fate."""
    http = FAILED_HTTP[fate][1] if fate in FAILED_HTTP else 202
    crm = "rejected" if fate in REJECTED else "delivered" if fate in REACHES_CRM else None
    dead = "expired" if fate == "expired" else "rejected" if fate in REJECTED else None
    return http, crm, dead


def _export(run: PipelineRun, query_url: str, expected: int) -> None:
    """tracekit export of the run's window, repeated until Jaeger holds every exported span."""
    from tracekit.connect import connect
    from tracekit.export.client import ClientOptions, JaegerClient
    from tracekit.export.run_export import ExportOptions, run_export

    deadline = time.monotonic() + 60
    while True:
        shutil.rmtree(run.dataset, ignore_errors=True)
        client = JaegerClient(ClientOptions(query_url))
        try:
            run_export(
                client,
                ExportOptions(out=run.dataset, window=run.export_window_us, overlap_us=0),
            )
        finally:
            client.close()
        with connect(run.dataset) as con:
            ((stored,),) = con.execute("SELECT count(*) FROM span_rows").fetchall()
        if stored == expected:
            return
        if stored > expected or time.monotonic() > deadline:
            raise PipelineError(f"Jaeger holds {stored} spans, the services exported {expected}")
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for logs and the dataset")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="ids")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--amqp-state", type=Path, required=True, help="rabbitmq.py state file")
    parser.add_argument("--jaeger", required=True, help="Jaeger query URL")
    parser.add_argument("--otlp", required=True, help="Jaeger OTLP/HTTP URL")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    python = load_script("pipeline_venv").ensure()
    rabbitmq = load_script("rabbitmq").read_state(args.amqp_state)
    if rabbitmq is None:
        parser.error(f"no RabbitMQ recorded in {args.amqp_state}")
    run = run_pipeline(
        VARIANTS[args.variant],
        python=python,
        rabbitmq=rabbitmq,
        jaeger_otlp_url=args.otlp,
        jaeger_query_url=args.jaeger,
        folder=args.out,
        seed=seed,
    )
    fates = dict(Counter(o.fate for o in run.orders))
    print(f"seed {seed}: {len(run.orders)} orders {fates}; dataset {run.dataset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
