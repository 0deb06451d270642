"""Regenerate the bundled sample data/sample/traces.json.gz deterministically.

Fifteen minutes of the simulator's ``baseline`` scenario (seed 7) written as a Jaeger
``/api/traces`` response, gzip-compressed with a fixed timestamp so the bytes are reproducible:

    .venv/bin/python scripts/make_sample.py [--out data/sample/traces.json.gz]

The sample is what ``tracekit import data/sample/traces.json.gz --out DATASET`` reads in the
README and in ``make demo`` before the simulator's own output exists. Attribute values are text in
the dataset, so every tag is written with type ``string``.
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from tracekit.simulate import simulate

EPOCH = datetime(1970, 1, 1)
REPO = Path(__file__).resolve().parent.parent


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def tag(key: str, value: str) -> dict[str, str]:
    return {"key": key, "type": "string", "value": value}


def jaeger_span(row: dict[str, Any], process_id: str) -> dict[str, Any]:
    """One span row as Jaeger's JSON writes it (kind and status as tags, links as references)."""
    tags = [tag(key, value) for key, value in row["attributes"]]
    if row["kind"] and row["kind"] != "unspecified":
        tags.append(tag("span.kind", row["kind"]))
    if row["status"] in ("OK", "ERROR"):
        tags.append(tag("otel.status_code", row["status"]))
    if row["status"] == "ERROR":
        tags.append({"key": "error", "type": "bool", "value": True})
    if row["status_message"]:
        tags.append(tag("otel.status_description", row["status_message"]))
    references = []
    if row["parent_span_id"]:
        references.append(
            {"refType": "CHILD_OF", "traceID": row["trace_id"], "spanID": row["parent_span_id"]}
        )
    for link in row["links"] or []:
        kind = "CHILD_OF" if link["kind"] == "child_of" else "FOLLOWS_FROM"
        references.append({"refType": kind, "traceID": link["trace_id"], "spanID": link["span_id"]})
    logs = []
    for event in row["events"] or []:
        fields = [tag("event", event["name"])] if event["name"] else []
        fields += [tag(key, value) for key, value in event["attributes"]]
        logs.append({"timestamp": micros(event["time"]), "fields": fields})
    return {
        "traceID": row["trace_id"],
        "spanID": row["span_id"],
        "flags": 1,
        "operationName": row["operation"],
        "references": references,
        "startTime": micros(row["start_time"]),
        "duration": row["duration_us"],
        "tags": tags,
        "logs": logs,
        "processID": process_id,
        "warnings": None,
    }


def jaeger_response(table: pa.Table) -> dict[str, Any]:
    """Span rows as a Jaeger /api/traces response: one trace object per trace id."""
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in table.to_pylist():
        by_trace[row["trace_id"]].append(row)
    traces = []
    for trace_id in sorted(by_trace):
        processes: dict[tuple, str] = {}
        spans = []
        for row in sorted(by_trace[trace_id], key=lambda r: (r["start_time"], r["span_id"])):
            resource = tuple(sorted((k, v) for k, v in row["resource"] if k != "service.name"))
            key = (row["service"], resource)
            process_id = processes.setdefault(key, f"p{len(processes) + 1}")
            spans.append(jaeger_span(row, process_id))
        traces.append(
            {
                "traceID": trace_id,
                "spans": spans,
                "processes": {
                    pid: {"serviceName": service, "tags": [tag(k, v) for k, v in resource]}
                    for (service, resource), pid in processes.items()
                },
                "warnings": None,
            }
        )
    return {"data": traces, "total": 0, "limit": 0, "offset": 0, "errors": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "data" / "sample" / "traces.json.gz")
    args = parser.parse_args()
    result = simulate("baseline", duration_s=900, seed=7, start="2026-01-05T10:00:00Z")
    table = pa.Table.from_batches(result.batches)
    payload = json.dumps(jaeger_response(table), separators=(",", ":")).encode()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    traces = table.column("trace_id").unique()
    print(
        f"{args.out}: {len(traces)} traces, {table.num_rows} spans, "
        f"{args.out.stat().st_size // 1024} KB"
    )


if __name__ == "__main__":
    main()
