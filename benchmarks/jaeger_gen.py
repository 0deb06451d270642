"""A seeded generator of Jaeger /api/traces responses for the import benchmark.

Each trace is a small call tree over a few services with typed tags (string, int64, float64,
bool, binary), logs with an ``event`` field and, now and then, a FOLLOWS_FROM reference.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

SERVICES = ("shop-api", "mes-api", "mes", "model-storage", "order-queue", "crm")
OPERATIONS = (
    "GET /orders",
    "POST /orders",
    "create_order",
    "load_model",
    "publish",
    "consume",
    "sync_customer",
    "SELECT orders",
    "render",
    "validate",
)


def _tags(rng: random.Random, kind: str) -> list[dict]:
    tags = [
        {"key": "span.kind", "type": "string", "value": kind},
        {"key": "http.method", "type": "string", "value": rng.choice(("GET", "POST", "PUT"))},
        {"key": "http.url", "type": "string", "value": f"/api/v1/orders/{rng.randrange(10**6)}"},
        {
            "key": "http.status_code",
            "type": "int64",
            "value": rng.choice((200, 200, 201, 404, 500)),
        },
        {"key": "order.weight_g", "type": "float64", "value": round(rng.uniform(0.5, 90.0), 3)},
        {"key": "cache.hit", "type": "bool", "value": rng.random() < 0.5},
        {
            "key": "net.peer.ip",
            "type": "string",
            "value": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
        },
        {"key": "otel.library.name", "type": "string", "value": "workshop-instrumentation"},
    ]
    if rng.random() < 0.1:
        tags.append({"key": "error", "type": "bool", "value": True})
        tags.append({"key": "otel.status_code", "type": "string", "value": "ERROR"})
    if rng.random() < 0.2:
        tags.append(
            {
                "key": "payload.digest",
                "type": "binary",
                "value": base64.b64encode(rng.randbytes(12)).decode(),
            }
        )
    return tags


def make_trace(rng: random.Random, start_us: int, spans: int = 8) -> dict:
    """One trace with ``spans`` spans in a random tree."""
    trace_id = f"{rng.getrandbits(128):032x}"
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(spans)]
    services = rng.sample(SERVICES, k=min(len(SERVICES), 4))
    processes = {
        f"p{i + 1}": {
            "serviceName": name,
            "tags": [
                {"key": "hostname", "type": "string", "value": f"{name}-{rng.randrange(3)}"},
                {"key": "jaeger.version", "type": "string", "value": "Go-2.30.0"},
                {"key": "ip", "type": "string", "value": f"10.1.0.{rng.randrange(256)}"},
            ],
        }
        for i, name in enumerate(services)
    }
    out = []
    for i, span_id in enumerate(ids):
        refs = []
        if i:
            refs.append(
                {"refType": "CHILD_OF", "traceID": trace_id, "spanID": ids[rng.randrange(i)]}
            )
            if rng.random() < 0.1:
                refs.append(
                    {
                        "refType": "FOLLOWS_FROM",
                        "traceID": trace_id,
                        "spanID": ids[rng.randrange(i)],
                    }
                )
        begin = start_us + i * 100 + rng.randrange(50)
        logs = [
            {
                "timestamp": begin + 5,
                "fields": [
                    {"key": "event", "type": "string", "value": "order.accepted"},
                    {"key": "order.id", "type": "int64", "value": rng.randrange(10**9)},
                ],
            },
            {
                "timestamp": begin + 9,
                "fields": [
                    {"key": "message", "type": "string", "value": "stored model file"},
                    {"key": "level", "type": "string", "value": "info"},
                ],
            },
        ]
        out.append(
            {
                "traceID": trace_id,
                "spanID": span_id,
                "flags": 1,
                "operationName": rng.choice(OPERATIONS),
                "references": refs,
                "startTime": begin,
                "duration": rng.randrange(100, 50_000),
                "tags": _tags(
                    rng, rng.choice(("server", "client", "producer", "consumer", "internal"))
                ),
                "logs": logs,
                "processID": f"p{rng.randrange(len(processes)) + 1}",
                "warnings": None,
            }
        )
    return {"traceID": trace_id, "spans": out, "processes": processes, "warnings": None}


def write_responses(
    folder: Path, files: int, traces_per_file: int = 1000, seed: int = 7, spans_per_trace: int = 8
) -> list[Path]:
    """Write ``files`` /api/traces responses into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    start = 1_732_000_000_000_000
    paths = []
    for number in range(files):
        traces = [
            make_trace(rng, start + (number * traces_per_file + k) * 1_000_000, spans_per_trace)
            for k in range(traces_per_file)
        ]
        doc = {"data": traces, "total": 0, "limit": 0, "offset": 0, "errors": None}
        path = folder / f"traces-{number:03d}.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    return paths
