"""``--otlp`` sends the same spans as ``--out``, checked with a real OTLP/HTTP receiver.

The receiver is a small HTTP server in this test that decodes the protobuf requests with
opentelemetry-proto, as a collector does. (The end-to-end run against real Jaeger belongs to
the export tests.)
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

import tracekit
from tests.cli import assert_user_error, run

KINDS = {2: "server", 3: "client", 4: "producer", 5: "consumer", 1: "internal"}
STATUSES = {0: "UNSET", 1: "OK", 2: "ERROR"}


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.spans: list[dict[str, Any]] = []
        self.requests = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.startswith("/reject"):
            self.send_response(400)
            self.end_headers()
            return
        assert self.path == "/v1/traces", self.path
        assert self.headers["Content-Type"] == "application/x-protobuf"
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        decoded = []
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    decoded.append(_span_row(span, resource))
        with self.server.lock:
            self.server.spans.extend(decoded)
            self.server.requests += 1
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


def _value(any_value: Any) -> str:
    field = any_value.WhichOneof("value")
    return str(getattr(any_value, field))


def _span_row(span: Any, resource: dict[str, str]) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex() or None,
        "service": resource["service.name"],
        "instance": resource["service.instance.id"],
        "operation": span.name,
        "kind": KINDS[span.kind],
        "start_ns": span.start_time_unix_nano,
        "end_ns": span.end_time_unix_nano,
        "status": STATUSES[span.status.code],
        "attributes": {a.key: _value(a.value) for a in span.attributes},
        "links": [(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
        "events": [event.name for event in span.events],
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_otlp_carries_the_same_spans_as_the_dataset(receiver: Receiver, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    proc = run(
        "simulate",
        "--scenario",
        "api-errors",
        "--duration",
        "20m",
        "--seed",
        "9",
        "--start",
        "2026-01-05T10:00:00Z",
        "--out",
        str(out),
        "--otlp",
        receiver.url,
    )
    assert proc.returncode == 0, proc.stderr
    con = tracekit.connect(out)
    stored = con.execute("""
        SELECT trace_id, span_id, parent_span_id, service, resource['service.instance.id'],
               operation, kind, epoch_us(start_time) * 1000, epoch_us(end_time) * 1000, status,
               attributes,
               [[l.trace_id, l.span_id] for l in links], [e.name for e in events]
        FROM spans""").fetchall()
    assert len(stored) > 1000
    assert receiver.requests > 1
    received = {span["span_id"]: span for span in receiver.spans}
    assert len(received) == len(receiver.spans) == len(stored)
    for row in stored:
        span = received[row[1]]
        assert (
            span["trace_id"],
            span["parent_span_id"],
            span["service"],
            span["instance"],
            span["operation"],
            span["kind"],
            span["start_ns"],
            span["end_ns"],
            span["status"],
        ) == (row[0], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9])
        assert span["attributes"] == dict(row[10])
        assert span["links"] == [tuple(link) for link in row[11]]
        assert span["events"] == row[12]
    kinds = {span["kind"] for span in receiver.spans}
    assert kinds == {"server", "client", "producer", "consumer"}
    producer = next(s for s in receiver.spans if s["kind"] == "producer")
    assert {
        "messaging.system",
        "messaging.destination.name",
        "messaging.message.id",
        "messaging.operation.type",
    } <= set(producer["attributes"])


def test_rejecting_receiver_is_one_line_exit_2(receiver: Receiver, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    proc = run(
        "simulate",
        "--duration",
        "5m",
        "--seed",
        "1",
        "--out",
        str(out),
        "--otlp",
        f"{receiver.url}/reject/v1/traces",
    )
    assert_user_error(proc, "--otlp", "export failed")
    assert not out.exists()


def test_unreachable_receiver_fails_before_simulating(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = run(
        "simulate",
        "--duration",
        "5m",
        "--out",
        str(tmp_path / "ds"),
        "--otlp",
        f"http://127.0.0.1:{port}",
    )
    assert_user_error(proc, "--otlp", "cannot connect")
    assert not (tmp_path / "ds").exists()
