"""Property: random valid traces written as Jaeger JSON and as OTLP JSON (the way Jaeger writes
them) import with no loss, and both formats give identical rows."""

from __future__ import annotations

import base64
import json
import math
import string
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracekit.importers import jaeger_to_batches, otlp_to_batches
from tracekit.importers.flat import normalize_ids
from tracekit.importers.values import go_float, go_json
from tracekit.schema import KINDS, normalize_span_id, normalize_trace_id

hex_ids = st.text("0123456789abcdef", min_size=16, max_size=16)
keys = st.text(string.ascii_lowercase + "._-", min_size=1, max_size=6).map(lambda key: "k." + key)
texts = st.text(max_size=8)
values = st.one_of(
    st.tuples(st.just("string"), texts),
    st.tuples(st.just("int64"), st.integers(-(2**63), 2**63 - 1)),
    st.tuples(st.just("float64"), st.floats(allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("bool"), st.booleans()),
    st.tuples(st.just("binary"), st.binary(max_size=8)),
    st.tuples(st.just("array"), st.lists(st.one_of(texts, st.integers(-1000, 1000)), max_size=3)),
)
attribute_maps = st.dictionaries(keys, values, max_size=4)
times = st.integers(0, 4 * 10**15)
EPOCH = datetime(1970, 1, 1)


@st.composite
def traces(draw: st.DrawFn) -> dict[str, Any]:
    trace_id = draw(st.one_of(hex_ids, st.text("0123456789abcdef", min_size=32, max_size=32)))
    count = draw(st.integers(1, 5))
    ids = draw(st.lists(hex_ids, min_size=count, max_size=count, unique=True))
    services = draw(
        st.lists(
            st.text(string.ascii_lowercase + "-", min_size=1, max_size=8),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    resources = {service: draw(attribute_maps) for service in services}
    spans = []
    for index, span in enumerate(ids):
        parent = None
        if index and draw(st.integers(0, 4)):
            parent = ids[draw(st.integers(0, index - 1))]
        status = draw(st.sampled_from(("OK", "ERROR", "UNSET")))
        scope = draw(st.none() | st.tuples(texts.filter(bool), st.none() | texts.filter(bool)))
        spans.append(
            {
                "span_id": span,
                "parent": parent,
                "service": draw(st.sampled_from(services)),
                "name": draw(texts),
                "kind": draw(st.sampled_from(KINDS)),
                "start": draw(times),
                "duration": draw(st.integers(0, 10**9)),
                "end_ns_extra": draw(st.integers(0, 999)),
                "status": status,
                "message": draw(st.none() | texts.filter(bool)),
                "scope": scope,
                "attributes": draw(attribute_maps),
                # a link into this trace first (the parent, another span), as Jaeger orders
                # the references it writes: see jaeger_parent
                "links": [
                    (trace_id, linked)
                    for linked in draw(
                        st.lists(st.sampled_from([*ids, parent or ids[0]]), max_size=1)
                    )
                ]
                + draw(
                    st.lists(
                        st.tuples(st.text("0123456789abcdef", min_size=32, max_size=32), hex_ids),
                        max_size=2,
                    )
                ),
                "events": draw(st.lists(st.tuples(times, texts, attribute_maps), max_size=2)),
            }
        )
    return {"trace_id": trace_id, "spans": spans, "resources": resources}


def jaeger_parent(span: dict[str, Any], trace_id: str) -> str | None:
    """The parent Jaeger's model gives the span (Span.ParentSpanID): its parent, else its first
    link into its own trace. Jaeger writes a span with no parent and such a link as one
    FOLLOWS_FROM reference and reads that back as the parent, so the Jaeger JSON of such a
    span is the OTLP span with that parent (and the link)."""
    if span["parent"]:
        return span["parent"]
    own = normalize_trace_id(trace_id)
    same = [linked for link_trace, linked in span["links"] if normalize_trace_id(link_trace) == own]
    return same[0] if same else None


def jaeger_tag(key: str, typed: tuple[str, Any]) -> dict[str, Any]:
    """A tag as Jaeger's JSON writes it (int64 beyond 2^53 as a string, arrays as JSON text)."""
    kind, value = typed
    if kind == "int64" and abs(value) > 2**53 - 1:
        value = str(value)
    elif kind == "binary":
        value = base64.b64encode(value).decode()
    elif kind == "array":
        kind, value = "string", go_json(value)
    return {"key": key, "type": kind, "value": value}


def any_value(typed: tuple[str, Any]) -> dict[str, Any]:
    kind, value = typed
    if kind == "string":
        return {"stringValue": value}
    if kind == "int64":
        return {"intValue": str(value)}
    if kind == "float64":
        return {"doubleValue": value}
    if kind == "bool":
        return {"boolValue": value}
    if kind == "binary":
        return {"bytesValue": base64.b64encode(value).decode()}
    items = [
        {"stringValue": item} if isinstance(item, str) else {"intValue": str(item)}
        for item in value
    ]
    return {"arrayValue": {"values": items}}


def as_jaeger(model: dict[str, Any]) -> bytes:
    trace_id = model["trace_id"]
    process_ids = {service: f"p{number}" for number, service in enumerate(model["resources"])}
    spans = []
    for span in model["spans"]:
        tags = []
        if span["scope"]:
            tags.append({"key": "otel.scope.name", "type": "string", "value": span["scope"][0]})
            if span["scope"][1]:
                tags.append(
                    {"key": "otel.scope.version", "type": "string", "value": span["scope"][1]}
                )
        tags += [jaeger_tag(key, typed) for key, typed in span["attributes"].items()]
        if span["kind"] != "unspecified":
            tags.append({"key": "span.kind", "type": "string", "value": span["kind"]})
        if span["status"] != "UNSET":
            tags.append({"key": "otel.status_code", "type": "string", "value": span["status"]})
        if span["status"] == "ERROR":
            tags.append({"key": "error", "type": "bool", "value": True})
        if span["message"]:
            tags.append(
                {"key": "otel.status_description", "type": "string", "value": span["message"]}
            )
        # as Jaeger's translator writes them: the parent first, as CHILD_OF unless the span
        # also links to it, which makes it one FOLLOWS_FROM reference
        references = []
        links = list(span["links"])
        if span["parent"]:
            own = (normalize_trace_id(trace_id), span["parent"])
            to_parent = [link for link in links if (normalize_trace_id(link[0]), link[1]) == own]
            kind = "FOLLOWS_FROM" if to_parent else "CHILD_OF"
            references.append({"refType": kind, "traceID": trace_id, "spanID": span["parent"]})
            if to_parent:
                links.remove(to_parent[0])
        references += [
            {"refType": "FOLLOWS_FROM", "traceID": link_trace, "spanID": link_span}
            for link_trace, link_span in links
        ]
        logs = []
        for time_us, name, attributes in span["events"]:
            fields = [{"key": "event", "type": "string", "value": name}] if name else []
            fields += [jaeger_tag(key, typed) for key, typed in attributes.items()]
            logs.append({"timestamp": time_us, "fields": fields})
        spans.append(
            {
                "traceID": trace_id,
                "spanID": span["span_id"],
                "operationName": span["name"],
                "references": references,
                "startTime": span["start"],
                "duration": span["duration"],
                "tags": tags,
                "logs": logs,
                "processID": process_ids[span["service"]],
                "warnings": None,
            }
        )
    processes = {
        process_id: {
            "serviceName": service,
            "tags": [jaeger_tag(key, typed) for key, typed in model["resources"][service].items()],
        }
        for service, process_id in process_ids.items()
    }
    return json.dumps(
        {"data": [{"traceID": trace_id, "spans": spans, "processes": processes}]}
    ).encode()


def as_otlp(model: dict[str, Any]) -> bytes:
    trace_id = model["trace_id"].rjust(32, "0")
    kinds = {
        name: number
        for number, name in enumerate(
            ("unspecified", "internal", "server", "client", "producer", "consumer")
        )
    }
    resource_spans = []
    for span in model["spans"]:
        resource = [{"key": "service.name", "value": {"stringValue": span["service"]}}]
        resource += [
            {"key": key, "value": any_value(typed)}
            for key, typed in model["resources"][span["service"]].items()
        ]
        scope = {}
        if span["scope"]:
            scope = {"name": span["scope"][0], "version": span["scope"][1] or ""}
        start_ns = span["start"] * 1000
        otlp_span = {
            "traceId": trace_id,
            "spanId": span["span_id"],
            "parentSpanId": jaeger_parent(span, model["trace_id"]) or "",
            "name": span["name"],
            "kind": kinds[span["kind"]],
            "startTimeUnixNano": str(start_ns),
            "endTimeUnixNano": str(start_ns + span["duration"] * 1000 + span["end_ns_extra"]),
            "attributes": [
                {"key": key, "value": any_value(typed)} for key, typed in span["attributes"].items()
            ],
            "events": [
                {
                    "timeUnixNano": str(time_us * 1000),
                    "name": name,
                    "attributes": [
                        {"key": key, "value": any_value(typed)} for key, typed in attributes.items()
                    ],
                }
                for time_us, name, attributes in span["events"]
            ],
            "links": [
                {"traceId": link_trace, "spanId": link_span}
                for link_trace, link_span in span["links"]
            ],
            "status": {
                "code": {"UNSET": 0, "OK": 1, "ERROR": 2}[span["status"]],
                "message": span["message"] or "",
            },
        }
        resource_spans.append(
            {
                "resource": {"attributes": resource},
                "scopeSpans": [{"scope": scope, "spans": [otlp_span]}],
            }
        )
    return json.dumps({"resourceSpans": resource_spans}).encode()


def rows(batches) -> list[dict[str, Any]]:
    table = pa.Table.from_batches(list(batches))
    return sorted(table.to_pylist(), key=lambda row: row["span_id"])


def same_value(typed: tuple[str, Any], text: str) -> bool:
    """The stored text holds exactly the typed value."""
    kind, value = typed
    if kind == "string":
        return text == value
    if kind == "int64":
        return text == str(value)
    if kind == "float64":
        return float(text) == value and math.copysign(1, float(text)) == math.copysign(1, value)
    if kind == "bool":
        return text == ("true" if value else "false")
    if kind == "binary":
        return base64.b64decode(text) == value
    return json.loads(text) == value


def same_map(expected: dict[str, tuple[str, Any]], stored: list[tuple[str, str]]) -> bool:
    got = dict(stored)
    return got.keys() == expected.keys() and all(
        same_value(typed, got[key]) for key, typed in expected.items()
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces())
def test_random_traces_round_trip_through_both_formats(model):
    from_jaeger = rows(jaeger_to_batches(as_jaeger(model)))
    from_otlp = rows(otlp_to_batches(as_otlp(model)))
    assert from_jaeger == from_otlp
    assert len(from_jaeger) == len(model["spans"])
    trace_id = normalize_trace_id(model["trace_id"])
    for span, row in zip(
        sorted(model["spans"], key=lambda s: s["span_id"]), from_jaeger, strict=True
    ):
        assert row["trace_id"] == trace_id
        assert row["span_id"] == span["span_id"]
        assert row["parent_span_id"] == jaeger_parent(span, model["trace_id"])
        assert row["service"] == span["service"]
        assert row["operation"] == span["name"]
        assert row["kind"] == span["kind"]
        assert row["status"] == span["status"]
        assert row["status_message"] == span["message"]
        assert row["duration_us"] == span["duration"]
        assert row["start_time"] == EPOCH + timedelta(microseconds=span["start"])
        assert row["end_time"] - row["start_time"] == timedelta(microseconds=span["duration"])
        scope = {}
        if span["scope"]:
            scope["otel.scope.name"] = ("string", span["scope"][0])
            if span["scope"][1]:
                scope["otel.scope.version"] = ("string", span["scope"][1])
        assert same_map({**scope, **span["attributes"]}, row["attributes"])
        assert same_map(model["resources"][span["service"]], row["resource"])
        assert row["links"] == [
            {
                "trace_id": normalize_trace_id(link_trace),
                "span_id": link_span,
                "kind": "follows_from",
            }
            for link_trace, link_span in span["links"]
        ]
        assert len(row["events"]) == len(span["events"])
        for (time_us, name, attributes), event in zip(span["events"], row["events"], strict=True):
            assert event["name"] == name
            assert event["time"] == EPOCH + timedelta(microseconds=time_us)
            assert same_map(attributes, event["attributes"])


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_doubles_render_losslessly(value):
    assert float(go_float(value)) == value


@given(
    st.one_of(
        st.text(max_size=40),
        hex_ids,
        hex_ids.map(str.upper),
        st.text("0123456789abcdefABCDEF", min_size=32, max_size=32),
    )
)
def test_batch_id_normalisation_agrees_with_the_schema(text):
    ids = pa.array([text, None], pa.string())
    assert normalize_ids(ids, 32).to_pylist() == [normalize_trace_id(text), None]
    assert normalize_ids(ids, 16).to_pylist() == [normalize_span_id(text), None]


def test_a_consumer_linking_its_parent_keeps_the_parent_in_jaeger_json():
    """Issue 15: a consumer whose parent is the producer and which also links to it is written by
    Jaeger as one FOLLOWS_FROM reference; Jaeger's model reads that as the parent, and so do we:
    both formats give the parent and the link."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    producer, consumer = "00f067aa0ba902b7", "b7ad6b7169203331"
    span = {
        "service": "q",
        "name": "orders process",
        "kind": "consumer",
        "start": 1_732_000_000_000_000,
        "duration": 10,
        "end_ns_extra": 0,
        "status": "UNSET",
        "message": None,
        "scope": None,
        "attributes": {},
        "events": [],
    }
    model = {
        "trace_id": trace_id,
        "resources": {"q": {}},
        "spans": [
            {**span, "span_id": producer, "parent": None, "kind": "producer", "links": []},
            {**span, "span_id": consumer, "parent": producer, "links": [(trace_id, producer)]},
        ],
    }
    document = json.loads(as_jaeger(model))
    (consumer_span,) = [s for s in document["data"][0]["spans"] if s["spanID"] == consumer]
    assert consumer_span["references"] == [
        {"refType": "FOLLOWS_FROM", "traceID": trace_id, "spanID": producer}
    ]
    from_jaeger = rows(jaeger_to_batches(as_jaeger(model)))
    assert from_jaeger == rows(otlp_to_batches(as_otlp(model)))
    (row,) = [r for r in from_jaeger if r["span_id"] == consumer]
    assert row["parent_span_id"] == producer
    assert row["links"] == [{"trace_id": trace_id, "span_id": producer, "kind": "follows_from"}]
