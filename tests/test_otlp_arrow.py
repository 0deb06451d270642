"""The OTLP reader built on Arrow's JSON reader (tracekit.importers.otlp_arrow) gives exactly
the exact path's rows on the shape it reads, declines everything else (None), and export then
reads what it declined with the exact path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pytest

from tracekit.errors import UserError
from tracekit.export.api import TraceDoc, V3Api
from tracekit.export.convert import docs_to_table
from tracekit.importers.documents import document_batches
from tracekit.importers.otlp_arrow import resource_spans_table
from tracekit.schema import SPAN_SCHEMA

TRACE = "0AF7651916CD43DD8448EB211C80319C"  # upper case: normalised to lower
SHORT_TRACE = "00F067AA0BA902B7"  # 16 hex chars: padded to 32


def _value(kind: str, value: Any) -> dict[str, Any]:
    return {kind: value}


def _attribute(key: str, kind: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": _value(kind, value)}


def _objects() -> list[dict[str, Any]]:
    """resourceSpans in the common shape, using every part of it."""
    root = {
        "traceId": TRACE,
        "spanId": "B7AD6B7169203331",
        "traceState": "vendor=a",
        "flags": 256,
        "name": "POST /orders",
        "kind": 2,
        "startTimeUnixNano": "1732000000000000999",
        "endTimeUnixNano": "1732000000250001998",
        "attributes": [
            _attribute("http.route", "stringValue", "/orders"),
            _attribute("http.status_code", "intValue", "500"),
            _attribute("min", "intValue", "-9223372036854775808"),
            _attribute("retry", "boolValue", False),
            _attribute("weight", "doubleValue", 72.5),
            _attribute("whole", "doubleValue", 3.0),
            _attribute("tiny", "doubleValue", 1.5e-7),
            _attribute("huge", "doubleValue", 1e21),
            _attribute("blob", "bytesValue", "AAEC"),
            {"key": "empty", "value": {}},
            {"key": "no value"},
            _attribute("k", "stringValue", "first"),
            _attribute("k", "stringValue", "last"),  # a repeated key: the last wins
            _attribute("both", "stringValue", "text"),
            _attribute("otel.scope.name", "stringValue", "mine"),  # beats the scope's
        ],
        "droppedAttributesCount": 1,
        "events": [
            {
                "timeUnixNano": "1732000000100000500",
                "name": "ignored",
                "attributes": [
                    _attribute("event", "stringValue", "retrying"),
                    _attribute("attempt", "intValue", "2"),
                ],
            },
            {"timeUnixNano": "1732000000200000000", "name": "named", "droppedAttributesCount": 2},
            {"timeUnixNano": "1732000000210000000"},
        ],
        "droppedEventsCount": 3,
        "links": [
            {
                "traceId": "5B8EFFF798038103D269B633813FC60C",
                "spanId": "EEE19B7EC3C1B174",
                "attributes": [_attribute("opentracing.ref_type", "stringValue", "child_of")],
            },
            {"traceId": TRACE, "spanId": "00F067AA0BA902B7", "flags": 1},
        ],
        "droppedLinksCount": 4,
        "status": {"code": 2, "message": "boom"},
    }
    root["attributes"][13]["value"]["intValue"] = "7"  # string first, as value_text
    child = {
        "traceId": TRACE,
        "spanId": "00f067aa0ba902b7",
        "parentSpanId": "b7ad6b7169203331",
        "name": 'Заказ ✓ 😀 "quoted"\ttab',
        "kind": 9,  # out of range: unspecified
        "startTimeUnixNano": "1732000000010000000",
        "endTimeUnixNano": "1732000000005000000",  # ends before it starts: duration 0
        "status": {},
    }
    bare = {
        "traceId": SHORT_TRACE,
        "spanId": "1111111111111111",
        "parentSpanId": "",
        "startTimeUnixNano": "1732000001000000000",
        "endTimeUnixNano": "1732000001000001000",
        "status": {"code": 1},
    }
    return [
        {
            "resource": {
                "attributes": [
                    _attribute("service.name", "stringValue", "shop-api"),
                    _attribute("host.name", "stringValue", "shop-1"),
                    _attribute("cores", "intValue", "4"),
                    _attribute("load", "doubleValue", 0.25),
                    _attribute("host.name", "stringValue", "shop-2"),
                ]
            },
            "scopeSpans": [
                {"scope": {"name": "shop", "version": "1.2"}, "spans": [root, child]},
                {"scope": {"name": "db"}, "spans": [copy.deepcopy(child) | {"spanId": "2" * 16}]},
            ],
            "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
        },
        {"scopeSpans": [{"scope": {}, "spans": [bare]}, {"spans": []}]},
        {
            "resource": {"attributes": [_attribute("service.name", "stringValue", "")]},
            "scopeSpans": [],
        },
        {
            "resource": {"attributes": [_attribute("service.name", "stringValue", "mes")]},
            "scopeSpans": [{"scope": {"version": "9"}, "spans": [bare | {"spanId": "3" * 16}]}],
        },
    ]


def _lines(objects: list[dict[str, Any]]) -> list[bytes]:
    return [msgspec.json.encode(item) for item in objects]


def _exact(objects: list[dict[str, Any]]) -> pa.Table:
    document = msgspec.json.encode({"resourceSpans": objects})
    batches = list(document_batches(document, expect="otlp", defer_small=False))
    return pa.Table.from_batches(batches, schema=SPAN_SCHEMA)


def test_the_common_shape_gives_the_exact_paths_rows() -> None:
    objects = _objects()
    fast = resource_spans_table(_lines(objects))
    assert fast is not None
    exact = _exact(objects)
    assert fast.schema.equals(SPAN_SCHEMA)
    assert fast.to_pylist() == exact.to_pylist()
    # and the rows are what the mapping says, checked by hand on the richest span
    root = fast.to_pylist()[0]
    assert root["trace_id"] == TRACE.lower()
    assert (root["service"], root["kind"], root["status"]) == ("shop-api", "server", "ERROR")
    assert root["duration_us"] == 250_000  # (end - start) // 1000 in nanoseconds
    attributes = dict(root["attributes"])
    assert attributes["otel.scope.name"] == "mine"
    assert attributes["otel.scope.version"] == "1.2"
    assert attributes["k"] == "last"
    assert (attributes["min"], attributes["retry"], attributes["whole"]) == (
        "-9223372036854775808",
        "false",
        "3",
    )
    assert (attributes["tiny"], attributes["huge"]) == ("1.5e-7", "1e+21")
    assert (attributes["empty"], attributes["no value"], attributes["both"]) == ("", "", "text")
    assert attributes["otel.dropped_links_count"] == "4"
    assert attributes["w3c.tracestate"] == "vendor=a"
    assert dict(root["resource"]) == {"host.name": "shop-2", "cores": "4", "load": "0.25"}
    assert [event["name"] for event in root["events"]] == ["retrying", "named", ""]
    assert dict(root["events"][1]["attributes"]) == {"otel.dropped_attributes_count": "2"}
    assert [link["kind"] for link in root["links"]] == ["child_of", "follows_from"]
    rows = fast.to_pylist()
    assert [row["service"] for row in rows] == ["shop-api"] * 3 + [None, "mes"]
    assert rows[1]["kind"] == "unspecified" and rows[1]["status"] == "UNSET"
    assert rows[1]["duration_us"] == 0
    assert rows[3]["trace_id"] == SHORT_TRACE.lower().rjust(32, "0")
    assert rows[3]["parent_span_id"] is None and rows[3]["status"] == "OK"
    assert "otel.scope.name" not in dict(rows[4]["attributes"])  # a version without a name


def test_no_objects_give_no_rows() -> None:
    table = resource_spans_table([])
    assert table is not None and table.num_rows == 0 and table.schema.equals(SPAN_SCHEMA)


def _root(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return objects[0]["scopeSpans"][0]["spans"][0]


UNCOMMON = {
    "an array value": lambda o: _root(o)["attributes"].append(
        {"key": "a", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}}
    ),
    "a map value": lambda o: _root(o)["attributes"].append(
        {"key": "m", "value": {"kvlistValue": {"values": []}}}
    ),
    "a kind by name": lambda o: _root(o).update(kind="SPAN_KIND_CLIENT"),
    "a status code by name": lambda o: _root(o).update(status={"code": "STATUS_CODE_OK"}),
    "an int as a JSON number": lambda o: _root(o)["attributes"].append(
        _attribute("n", "intValue", 5)
    ),
    "a time as a JSON number": lambda o: _root(o).update(startTimeUnixNano=1732000000000000000),
    "an int beyond int64": lambda o: _root(o)["attributes"].append(
        _attribute("n", "intValue", "99999999999999999999")
    ),
    "an int Arrow does not parse": lambda o: _root(o)["attributes"].append(
        _attribute("n", "intValue", " 0042")
    ),
    "a double as a string": lambda o: _root(o)["attributes"].append(
        _attribute("d", "doubleValue", "NaN")
    ),
    "a base64 trace id": lambda o: _root(o).update(traceId="CvdlGRbNQ92ESOshHIAxnA=="),
    "a base64 span id": lambda o: _root(o).update(spanId="t61rcWkgMzE="),
    "a base64 link id": lambda o: _root(o)["links"][0].update(spanId="t61rcWkgMzE="),
    "an unknown field": lambda o: _root(o).update(novel=1),
    "an explicit null": lambda o: _root(o)["links"][1].update(traceState=None),
    "instrumentationLibrarySpans": lambda o: o[1].update(
        instrumentationLibrarySpans=o[1].pop("scopeSpans")
    ),
}


@pytest.mark.parametrize("change", UNCOMMON.values(), ids=UNCOMMON.keys())
def test_anything_else_is_declined_and_export_reads_it_with_the_exact_path(change) -> None:
    objects = _objects()
    change(objects)
    assert resource_spans_table(_lines(objects)) is None
    docs = [TraceDoc(f"{number}", 1, [line]) for number, line in enumerate(_lines(objects))]
    assert docs_to_table(V3Api(), docs).to_pylist() == _exact(objects).to_pylist()


def test_a_null_the_exact_path_refuses_is_declined_and_named_by_it() -> None:
    objects = _objects()
    _root(objects)["name"] = None  # Arrow alone would read it as a name left out
    assert resource_spans_table(_lines(objects)) is None
    docs = [TraceDoc("0", 1, _lines(objects)[:1])]
    with pytest.raises(
        UserError, match=r"spans\[0\]\.name: wrong value type: expected str, got null"
    ):
        docs_to_table(V3Api(), docs)


def test_a_span_without_an_id_is_declined_and_named_by_the_exact_path() -> None:
    objects = _objects()
    del _root(objects)["spanId"]
    assert resource_spans_table(_lines(objects)) is None
    docs = [TraceDoc("0", 1, _lines(objects)[:1])]
    with pytest.raises(UserError, match=r"spans\[0\]: object missing required field spanId"):
        docs_to_table(V3Api(), docs)


def test_an_object_spread_over_lines_is_declined() -> None:
    objects = _objects()
    lines = _lines(objects)
    lines[2] = json.dumps(objects[2], indent=1).encode()
    assert resource_spans_table(lines) is None


EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def test_real_otlp_files_read_alike(request) -> None:
    """Every OTLP file among the real fixtures: where the reader takes it, the exact rows."""
    if not EVAL.is_dir():
        pytest.skip(f"{EVAL} is absent (the shared real fixtures)")
    taken = 0
    for path in sorted(EVAL.glob("*/*.json")):
        document = json.loads(path.read_bytes())
        if isinstance(document, dict) and "result" in document:
            document = document["result"]
        if not isinstance(document, dict) or "resourceSpans" not in document:
            continue
        objects = document["resourceSpans"]
        fast = resource_spans_table(_lines(objects))
        if fast is not None:
            taken += 1
            assert fast.to_pylist() == _exact(objects).to_pylist(), path.name
    assert taken >= 5  # Jaeger's own answers and the HotROD captures are in the common shape
