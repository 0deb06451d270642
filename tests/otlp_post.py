"""Send span rows to a real collector as OTLP/HTTP JSON, the way an instrumented service would.

Tests use it to load Jaeger with spans whose ground truth they already hold as an Arrow table
(the simulator's output). It encodes; it does not import (reading is tracekit.importers' job).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa
import requests

KIND_CODES = {
    "unspecified": 0,
    "internal": 1,
    "server": 2,
    "client": 3,
    "producer": 4,
    "consumer": 5,
}
STATUS_CODES = {"UNSET": 0, "OK": 1, "ERROR": 2}


def _attributes(pairs: list[tuple[str, str]] | None) -> list[dict[str, Any]]:
    return [{"key": key, "value": {"stringValue": value}} for key, value in pairs or []]


def _nanos(moment: Any) -> str:
    return str(int(pa.scalar(moment, pa.timestamp("us")).value) * 1000)


def otlp_documents(table: pa.Table, spans_per_request: int = 2000) -> list[dict[str, Any]]:
    """OTLP JSON ExportTraceServiceRequest documents holding every row of `table`."""
    documents = []
    rows = table.to_pylist()
    for offset in range(0, len(rows), spans_per_request):
        by_resource: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = defaultdict(list)
        for row in rows[offset : offset + spans_per_request]:
            span: dict[str, Any] = {
                "traceId": row["trace_id"],
                "spanId": row["span_id"],
                "name": row["operation"],
                "kind": KIND_CODES.get(row["kind"] or "unspecified", 0),
                "startTimeUnixNano": _nanos(row["start_time"]),
                "endTimeUnixNano": _nanos(row["end_time"]),
                "attributes": _attributes(row["attributes"]),
                "status": {"code": STATUS_CODES.get(row["status"] or "UNSET", 0)},
            }
            if row["parent_span_id"]:
                span["parentSpanId"] = row["parent_span_id"]
            if row["status_message"]:
                span["status"]["message"] = row["status_message"]
            if row["events"]:
                span["events"] = [
                    {
                        "timeUnixNano": _nanos(event["time"]),
                        "name": event["name"],
                        "attributes": _attributes(event["attributes"]),
                    }
                    for event in row["events"]
                ]
            if row["links"]:
                span["links"] = [
                    {"traceId": link["trace_id"], "spanId": link["span_id"]}
                    for link in row["links"]
                ]
            resource = tuple(row["resource"] or [("service.name", row["service"])])
            by_resource[resource].append(span)
        documents.append(
            {
                "resourceSpans": [
                    {
                        "resource": {"attributes": _attributes(list(resource))},
                        "scopeSpans": [{"scope": {"name": "tracekit-tests"}, "spans": spans}],
                    }
                    for resource, spans in by_resource.items()
                ]
            }
        )
    return documents


def post_spans(table: pa.Table, otlp_http_url: str, query_url: str, timeout: float = 60) -> None:
    """POST `table` to {otlp_http_url}/v1/traces and wait until Jaeger serves every trace."""
    session = requests.Session()
    for document in otlp_documents(table):
        response = session.post(f"{otlp_http_url}/v1/traces", json=document, timeout=30)
        response.raise_for_status()
    wait_stored(table, query_url, timeout)


def wait_stored(table: pa.Table, query_url: str, timeout: float = 60) -> None:
    """Wait until Jaeger serves every span of sampled traces of `table` (it stores in batches)."""
    session = requests.Session()
    trace_ids = table.column("trace_id").to_pylist()
    expected = Counter(trace_ids)
    probes = list(dict.fromkeys(trace_ids[-50:] + trace_ids[:: max(1, len(trace_ids) // 50)]))
    deadline = time.monotonic() + timeout
    while probes and time.monotonic() < deadline:
        probes = [
            trace_id
            for trace_id in probes
            if _stored_spans(session, query_url, trace_id) != expected[trace_id]
        ]
        if probes:
            time.sleep(0.2)
    assert not probes, f"Jaeger did not store all spans of {probes[:3]} within {timeout}s"


def _stored_spans(session: requests.Session, query_url: str, trace_id: str) -> int:
    response = session.get(f"{query_url}/api/traces/{trace_id}", timeout=10)
    if response.status_code != 200:
        return 0
    return sum(len(trace["spans"]) for trace in response.json()["data"])
