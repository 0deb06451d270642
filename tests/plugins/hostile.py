"""``hostile_dataset``: traces whose every text field is HTML, script or Markdown.

Any instrumented service can put any string into a span, so the reports are tested on data that
tries: service names, operations, attribute keys and values, resource tags, status messages,
event names, message destinations and (where the importer keeps them as given) trace ids hold
payloads that would run script (each sets its own ``window.__xss`` number) or draw markup if a
report let them through. The traces are written as a Jaeger JSON file and imported with the real
``tracekit import``, so the data takes the path a user's data takes. Its folder name is a
payload too (it is shown in the page header and title).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run


def payload(n: int, shape: int = 0) -> str:
    """A payload that sets ``window.__xss = n`` if it ever runs, in one of several shapes."""
    shapes = (
        f'<img src=x onerror="window.__xss={n}">',
        f"<script>window.__xss={n}</script>",
        f'"><svg onload=window.__xss={n}>',
        f"[x{n}](javascript:window.__xss={n})",
        f"</script><script>window.__xss={n}</script>",
        f"**{n}** `{n}` <b onmouseover=window.__xss={n}>{{x{n}}}</b>",
    )
    return shapes[shape % len(shapes)]


# The services, named by payloads: a gateway calls a backend, which calls a store in a loop
# (an N+1) and hands each request on to a consumer through a message.
GATEWAY, BACKEND, STORE, CONSUMER = payload(1, 0), payload(2, 1), payload(3, 2), payload(4, 5)
DESTINATION = payload(5, 3)
FOLDER = "<img src=x onerror=window.__xss=9>"


@dataclass(frozen=True)
class HostileDataset:
    path: Path
    services: tuple[str, ...]
    texts: tuple[str, ...]  # payloads a reader must see as text somewhere in the reports


def _tag(key: str, value: Any) -> dict[str, Any]:
    kind = "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "string"
    return {"key": key, "type": kind, "value": value}


def _span(
    trace_id: str,
    span_id: str,
    process: str,
    operation: str,
    start: int,
    duration: int,
    kind: str,
    *,
    parent: str | None = None,
    link: tuple[str, str] | None = None,
    tags: list[dict[str, Any]] = (),  # type: ignore[assignment]
    logs: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    references = []
    if parent:
        references.append({"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent})
    if link:
        references.append({"refType": "FOLLOWS_FROM", "traceID": link[0], "spanID": link[1]})
    return {
        "traceID": trace_id,
        "spanID": span_id,
        "operationName": operation,
        "references": references,
        "startTime": start,
        "duration": duration,
        "tags": [_tag("span.kind", kind), *tags],
        "logs": list(logs),
        "processID": process,
    }


def hostile_traces(seed: int, traces: int = 60) -> dict[str, Any]:
    """A Jaeger API answer of ``traces`` requests (and their consumer traces) full of payloads."""
    rng = random.Random(seed)
    processes = {
        "gw": {"serviceName": GATEWAY, "tags": [_tag(payload(10, 4), payload(11, 0))]},
        "be": {"serviceName": BACKEND, "tags": [_tag("host.name", payload(12, 1))]},
        "db": {"serviceName": STORE, "tags": []},
        "cs": {"serviceName": CONSUMER, "tags": []},
    }
    data = []
    start = 1_767_600_000_000_000  # 2026-01-05 08:00 UTC, in microseconds
    for index in range(traces):
        # Trace ids are kept as given when not hex: every fourth one is a payload.
        trace_id = payload(20 + index, index) if index % 4 == 0 else f"{index + 1:032x}"
        at = start + index * 20_000_000 + rng.randrange(1_000_000)
        slow = rng.random() < 0.15
        store_ms = rng.randrange(5, 40) * (8 if slow else 1)
        failed = index % 10 == 3
        spans = []
        root_tags = [
            _tag("http.request.method", "GET"),
            _tag(payload(13, 3), payload(14, index)),
            _tag("http.response.status_code", 500 if failed else 200),
        ]
        if failed:
            root_tags += [_tag("error", True), _tag("otel.status_description", payload(15, 1))]
        total = 6 * store_ms * 1000 + 30_000
        spans.append(
            _span(
                trace_id,
                "a1",
                "gw",
                payload(16, 0),
                at,
                total + 4_000,
                "server",
                tags=root_tags,
                logs=[
                    {
                        "timestamp": at + 10,
                        "fields": [{"key": "event", "type": "string", "value": payload(17, 1)}],
                    }
                ],
            )
        )
        spans.append(
            _span(
                trace_id,
                "a2",
                "gw",
                payload(18, 2),
                at + 1_000,
                total + 2_000,
                "client",
                parent="a1",
                tags=[_tag("peer.service", BACKEND)],
            )
        )
        backend_tags = [_tag(payload(19, 4), "v")]
        if failed:
            backend_tags += [_tag("error", True), _tag("otel.status_description", payload(21, 5))]
        spans.append(
            _span(
                trace_id,
                "b1",
                "be",
                payload(22, 1),
                at + 1_500,
                total,
                "server",
                parent="a2",
                tags=backend_tags,
            )
        )
        for call in range(6):
            begin = at + 2_000 + call * store_ms * 1000
            client, server = f"c{call}", f"d{call}"
            spans.append(
                _span(
                    trace_id,
                    client,
                    "be",
                    payload(23, 3),
                    begin,
                    store_ms * 1000 - 100,
                    "client",
                    parent="b1",
                    tags=[_tag("peer.service", STORE)],
                )
            )
            spans.append(
                _span(
                    trace_id,
                    server,
                    "db",
                    payload(24, 2),
                    begin + 50,
                    store_ms * 1000 - 200,
                    "server",
                    parent=client,
                )
            )
        sent = at + 2_000 + 6 * store_ms * 1000
        spans.append(
            _span(
                trace_id,
                "p1",
                "be",
                f"send {DESTINATION}",
                sent,
                1_000,
                "producer",
                parent="b1",
                tags=[
                    _tag("messaging.destination.name", DESTINATION),
                    _tag("messaging.message.id", f"m{index}"),
                ],
            )
        )
        data.append({"traceID": trace_id, "spans": spans, "processes": processes})
        if index % 7 != 5:  # every seventh message is never consumed
            consumer_trace = f"{index + 1_000:032x}"
            data.append(
                {
                    "traceID": consumer_trace,
                    "processes": processes,
                    "spans": [
                        _span(
                            consumer_trace,
                            "e1",
                            "cs",
                            f"process {DESTINATION}",
                            sent + 5_000,
                            8_000,
                            "consumer",
                            link=(trace_id, "p1"),
                            tags=[
                                _tag("messaging.destination.name", DESTINATION),
                                _tag("messaging.message.id", f"m{index}"),
                            ],
                        ),
                    ],
                }
            )
    return {"data": data, "total": 0, "limit": 0, "offset": 0, "errors": None}


@pytest.fixture(scope="session")
def hostile_dataset(tmp_path_factory: pytest.TempPathFactory) -> HostileDataset:
    """The hostile traces imported into a dataset whose folder name is a payload."""
    seed = random.randrange(2**32)
    print(f"hostile dataset seed {seed}")
    root = tmp_path_factory.mktemp("hostile")
    source = root / "traces.json"
    source.write_text(json.dumps(hostile_traces(seed)))
    dataset = root / FOLDER
    done = run("import", str(source), "--out", str(dataset), timeout=300)
    assert done.returncode == 0, (seed, done.stderr)
    return HostileDataset(
        dataset,
        (GATEWAY, BACKEND, STORE, CONSUMER),
        (GATEWAY, BACKEND, STORE, DESTINATION),
    )
