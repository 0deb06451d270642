"""Jaeger and OTLP JSON are mapped a batch at a time (jaeger_json.traces_batch,
otlp_batch.resource_spans_batch); a span the batch cannot read is named by the span-by-span
check (jaeger_json.span_problem, otlp_json.span_problem). The two must agree: the check passes
every span the batch reads, and skipping bad spans gives exactly the rows of the same document
without them, whether the document is mapped at once or (small documents, as in JSON Lines)
checked first and mapped together with the next ones."""

from __future__ import annotations

import copy
import json
import re

import msgspec
import pyarrow as pa
import pytest

from tests.plugins.importers import CASES
from tracekit.importers import (
    BadInput,
    SkipLog,
    jaeger_to_batches,
    otlp_batch,
    otlp_json,
    otlp_to_batches,
    read_file,
)
from tracekit.importers.jaeger_json import Trace, span_problem, traces_batch

# one bad span per kind of problem the batch can meet: (trace index, span index, change, message)
BREAKAGES = [
    (0, 1, {"processID": "nope"}, ".processID: names process 'nope', which is not in"),
    (1, 0, {"processID": None}, ": has neither a processID nor a process"),
    (1, 1, {"tags": [{"key": "n", "type": "int64", "value": 2.5}]}, ".tags[0].value: int64"),
    (
        2,
        0,
        {"logs": [{"timestamp": 1, "fields": [{"key": "b", "type": "bool", "value": 0.5}]}]},
        ".logs[0].fields[0].value: bool tag holds 0.5",
    ),
    (2, 1, {"processID": "bad"}, ".processes['bad'].tags[0].value: binary tag holds 1.5"),
]


def _document() -> dict:
    """Three copies of the case trace (every tag type, special tags, logs, references), each
    with its own trace id, and a process whose tag its type cannot hold."""
    trace = json.loads((CASES / "good-trace.json").read_text())["data"][0]
    traces = []
    for number in range(3):
        copied = copy.deepcopy(trace)
        trace_id = f"{number + 1:032x}"
        copied["traceID"] = trace_id
        for span in copied["spans"]:
            span["traceID"] = trace_id
            for ref in span.get("references") or ():
                ref["traceID"] = trace_id
        copied["processes"]["bad"] = {
            "serviceName": "bad",
            "tags": [{"key": "w", "type": "binary", "value": 1.5}],
        }
        traces.append(copied)
    return {"data": traces}


@pytest.fixture(params=["batch", "deferred"])
def path(request, monkeypatch) -> str:
    """Documents below SMALL_DOCUMENT spans are checked span by span first and mapped together
    later; the others are mapped at once and only their flagged spans checked. Both are run."""
    import tracekit.importers.documents as documents

    if request.param == "batch":
        monkeypatch.setattr(documents, "SMALL_DOCUMENT", 0)
    return request.param


def _rows(document: dict, skips: SkipLog | None = None) -> list[dict]:
    batches = list(jaeger_to_batches(document, skip_bad=skips is not None, skips=skips))
    return pa.Table.from_batches(batches).to_pylist()


def test_the_check_passes_every_span_the_batch_reads():
    document = _document()
    traces = [msgspec.convert(trace, Trace) for trace in document["data"]]
    batch, bad = traces_batch(traces)
    assert bad == []
    assert batch.num_rows == sum(len(trace.spans) for trace in traces) == 6
    for trace in traces:
        for span in trace.spans:
            assert span_problem(span, trace.processes or {}, "$") is None


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda breakage: breakage[3].split(":")[0])
def test_a_bad_span_is_named_by_the_check(breakage, path):
    # (strings and ints pass as they are whatever the declared type, so the bad values here are
    # floats a type other than float64 cannot hold)
    trace_index, span_index, change, message = breakage
    document = _document()
    document["data"][trace_index]["spans"][span_index].update(change)
    with pytest.raises(BadInput) as raised:
        _rows(document)
    assert str(raised.value).startswith(f"$.data[{trace_index}].spans[{span_index}]{message}")


def test_skipping_bad_spans_gives_the_rows_of_the_document_without_them(path):
    broken = _document()
    pruned = _document()
    for trace_index, span_index, change, _ in BREAKAGES:
        broken["data"][trace_index]["spans"][span_index].update(change)
    for trace_index, span_index, _, _ in sorted(BREAKAGES, reverse=True):
        del pruned["data"][trace_index]["spans"][span_index]
    skips = SkipLog()
    rows = _rows(broken, skips)
    assert rows == _rows(pruned)
    assert len(rows) == 1
    assert skips.units == {"span": len(BREAKAGES)}
    for _, _, _, message in BREAKAGES:
        # the skip log counts reasons by path pattern (indices dropped)
        pattern = re.sub(r"\[\d+\]", "[]", message)
        assert any(pattern in reason for reason in skips.reasons), pattern


def test_small_documents_on_lines_are_mapped_together_in_order(tmp_path):
    traces = _document()["data"]
    otlp = json.loads((CASES / "good-trace.otlp.json").read_text())
    lines = [{"data": [traces[0]]}, otlp, {"data": [traces[1]]}, {"data": [traces[2]]}]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    expected = [
        row
        for batch in [
            *jaeger_to_batches(lines[0]),
            *otlp_to_batches(otlp),
            *jaeger_to_batches({"data": traces[1:]}),
        ]
        for row in pa.Table.from_batches([batch]).to_pylist()
    ]
    assert pa.Table.from_batches(list(read_file(path))).to_pylist() == expected
    assert len(expected) == 8


# OTLP: the same contract for otlp_batch.resource_spans_batch and otlp_json.span_problem.
# (resource index, span index in its first scope, change, message)
OTLP_BREAKAGES = [
    (0, 0, {"startTimeUnixNano": "soon"}, ".startTimeUnixNano: expected an integer"),
    (1, 0, {"endTimeUnixNano": "1.5"}, ".endTimeUnixNano: expected an integer"),
    (
        2,
        0,
        {"attributes": [{"key": "n", "value": {"doubleValue": "lots"}}]},
        ".attributes[0].value: expected a number",
    ),
    (
        3,
        0,
        {"events": [{"timeUnixNano": "x", "name": "e"}]},
        ".events[0].timeUnixNano: expected an integer",
    ),
    (
        4,
        0,
        {
            "links": [
                {
                    "traceId": "ab" * 16,
                    "spanId": "cd" * 8,
                    "attributes": [{"key": "k", "value": {"intValue": "one"}}],
                }
            ]
        },
        ".links[0].attributes[0].value: expected an integer",
    ),
    (
        5,
        0,
        {
            "events": [
                {
                    "timeUnixNano": "1",
                    "attributes": [
                        {"key": "k", "value": {"arrayValue": {"values": [{"intValue": "x"}]}}}
                    ],
                }
            ]
        },
        ".events[0].attributes[0].value: expected an integer",
    ),
]


def _otlp_document() -> dict:
    """Six copies of the OTLP case (two resources each, every value type, events, links), each
    with its own trace id."""
    case = json.loads((CASES / "good-trace.otlp.json").read_text())["resourceSpans"]
    resources = []
    for number in range(len(OTLP_BREAKAGES)):
        trace_id = f"{number + 1:032x}"
        for resource in copy.deepcopy(case):
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    span["traceId"] = trace_id
            resources.append(resource)
    # breakage i hits resource 2i (the first copy's first resource)
    return {"resourceSpans": resources}


def _otlp_rows(document: dict, skips: SkipLog | None = None) -> list[dict]:
    batches = list(otlp_to_batches(document, skip_bad=skips is not None, skips=skips))
    return pa.Table.from_batches(batches).to_pylist()


def _break(document: dict, breakage: tuple) -> tuple[int, int]:
    copy_index, span_index, change, _ = breakage
    resource = 2 * copy_index
    document["resourceSpans"][resource]["scopeSpans"][0]["spans"][span_index].update(change)
    return resource, span_index


@pytest.mark.parametrize("breakage", OTLP_BREAKAGES, ids=lambda breakage: breakage[3].split(":")[0])
def test_a_bad_otlp_span_is_named_by_the_check(breakage, path):
    document = _otlp_document()
    resource, span_index = _break(document, breakage)
    with pytest.raises(BadInput) as raised:
        _otlp_rows(document)
    expected = f"$.resourceSpans[{resource}].scopeSpans[0].spans[{span_index}]{breakage[3]}"
    assert str(raised.value).startswith(expected)


def test_skipping_bad_otlp_spans_gives_the_rows_of_the_document_without_them(path):
    broken = _otlp_document()
    pruned = _otlp_document()
    for breakage in OTLP_BREAKAGES:
        resource, span_index = _break(broken, breakage)
        del pruned["resourceSpans"][resource]["scopeSpans"][0]["spans"][span_index]
    skips = SkipLog()
    rows = _otlp_rows(broken, skips)
    assert rows == _otlp_rows(pruned)
    assert len(rows) == len(OTLP_BREAKAGES)  # the second resource's span of every copy
    assert skips.units == {"span": len(OTLP_BREAKAGES)}


def test_otlp_batch_and_span_by_span_checks_agree_on_good_spans():
    document = _otlp_document()
    units = msgspec.convert(document, otlp_json.TracesData).resourceSpans or []
    resources = [otlp_batch._Resource(f"$[{n}]", unit) for n, unit in enumerate(units)]
    batch, bad = otlp_batch.resource_spans_batch(resources)
    assert bad == []
    assert batch.num_rows == 2 * len(OTLP_BREAKAGES)
    for unit in units:
        for scope in unit.scopeSpans or ():
            for span in scope.spans or ():
                assert otlp_json.span_problem(span, "$") is None


@pytest.mark.parametrize(
    "value",
    [
        {"intValue": "99999999999999999999"},  # beyond int64: rendered one by one
        {"intValue": " 0042"},
        {"intValue": -7},
        {"intValue": "-9223372036854775808"},
        {"doubleValue": 72.5},
        {"doubleValue": "NaN"},
        {"boolValue": True, "intValue": "1"},  # the first set field wins, as in value_text
        {"arrayValue": {"values": [{"intValue": "3"}, {"stringValue": "x"}]}},
        {},
    ],
)
def test_otlp_batch_renders_values_as_value_text_does(value):
    document = _otlp_document()
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"] = [{"key": "v", "value": value}, {"key": "n", "value": {"intValue": "5"}}]
    rows = _otlp_rows(document)
    expected = otlp_json.value_text(msgspec.convert(value, otlp_json.AnyValue))
    assert dict(rows[0]["attributes"])["v"] == expected
    assert dict(rows[0]["attributes"])["n"] == "5"
