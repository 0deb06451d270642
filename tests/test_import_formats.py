"""Every input shape the importer detects gives the same rows, and the rows follow Jaeger's own
OTLP <-> Jaeger translation (checked against Jaeger's and Jaeger UI's conversion fixtures)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugins.importers import CASES, comparable, rows_of
from tracekit.dataset import read_manifest
from tracekit.importers import document_batches, jaeger_to_batches, otlp_to_batches

PAIRS = [
    ("jaeger-ui/otlp2jaeger-in.json", "jaeger-ui/otlp2jaeger-out.json"),
    ("jaeger-ui/otlp2jaeger-multi-in-combined.json", "jaeger-ui/oltp2jaeger-multi-out.json"),
    ("jaeger/otlp2jaeger-in.json", "jaeger/otlp2jaeger-out.json"),
]


@pytest.mark.parametrize(("otlp_name", "jaeger_name"), PAIRS)
def test_otlp_and_jaeger_json_of_a_trace_give_identical_rows(eval_dir, otlp_name, jaeger_name):
    from_otlp = rows_of(eval_dir / otlp_name)
    from_jaeger = rows_of(eval_dir / jaeger_name)
    assert from_otlp, "the fixture holds spans"
    assert from_otlp == from_jaeger


def test_eval_pair_carries_scope_kind_and_parent(eval_dir):
    (row,) = {
        r["span_id"]: r for r in rows_of(eval_dir / "jaeger-ui/otlp2jaeger-out.json")
    }.values()
    assert row["kind"] == "server"
    assert row["parent_span_id"] == "909541b92cf05311"
    assert dict(row["attributes"]) == {
        "otel.scope.name": "telemetrygen",
        "net.peer.ip": "1.2.3.4",
        "peer.service": "telemetrygen-client",
    }
    assert row["duration_us"] == 123


def test_multi_pair_truncates_nanoseconds_like_jaeger(eval_dir):
    rows = {
        r["span_id"]: r for r in rows_of(eval_dir / "jaeger-ui/otlp2jaeger-multi-in-combined.json")
    }
    # 1711138246978000000 -> 1711138247024460625 ns is 46460.625 us; Jaeger says 46460
    assert rows["26f5ef9dbb885479"]["duration_us"] == 46460
    assert rows["eff3153be6b1fb93"]["parent_span_id"] is None
    assert dict(rows["49b8e9efa1e8a3b1"]["attributes"]) == {
        "otel.scope.name": "widgets",
        "otel.scope.version": "1.2.3",
    }
    assert dict(rows["49b8e9efa1e8a3b1"]["resource"]) == {
        "telemetry.sdk.language": "nodejs",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.22.0",
    }


def test_jaeger_ui_01_mapping(eval_dir):
    rows = rows_of(eval_dir / "jaeger/ui_01.json")
    by_operation = {row["operation"]: row for row in rows}
    errored = next(r for r in rows if r["operation"] == "some-operation" and r["status"] == "ERROR")
    assert dict(errored["attributes"]) == {
        "peer.service": "service-y",
        "peer.ipv4": "23456",
        "temperature": "72.5",
        "javascript_limit": "9223372036854775222",
        "blob": "AAAwOQ==",
    }
    reference = by_operation["reference-test"]
    # Jaeger's parent is the first CHILD_OF *into the same trace*; the rest become links
    assert reference["parent_span_id"] == "0000000000000002"
    assert reference["links"] == [
        {
            "trace_id": "000000000000000000000000000000ff",
            "span_id": "00000000000000ff",
            "kind": "child_of",
        },
        {
            "trace_id": "00000000000000000000000000000001",
            "span_id": "0000000000000002",
            "kind": "follows_from",
        },
    ]
    events = by_operation["test-general-conversion"]["events"]
    assert [(event["name"], dict(event["attributes"])) for event in events] == [
        ("some-event", {}),
        ("", {"x": "y"}),
    ]
    assert {row["trace_id"] for row in rows} == {"00000000000000000000000000000001"}


def test_v3_api_responses(eval_dir):
    for name in ("apiv3_GetTrace.json", "apiv3_FindTraces.json"):
        (row,) = rows_of(eval_dir / "jaeger" / name)
        assert (row["span_id"], row["kind"], row["status"]) == (
            "0000000000000002",
            "server",
            "ERROR",
        )


def test_case_trace_matches_expected_rows_in_both_formats():
    expected = json.loads((CASES / "good-trace.expected.json").read_text())
    for name in ("good-trace.json", "good-trace.otlp.json"):
        got = [comparable(row) for row in rows_of(CASES / name)]
        assert sorted(got, key=lambda row: row["span_id"]) == expected, name


def _jaeger_doc() -> dict:
    return json.loads((CASES / "good-trace.json").read_text())


def _otlp_doc() -> dict:
    return json.loads((CASES / "good-trace.otlp.json").read_text())


def _variants(tmp_path: Path) -> dict[str, Path]:
    """The case trace written in every shape the importer detects."""
    jaeger, otlp = _jaeger_doc(), _otlp_doc()
    trace = jaeger["data"][0]
    half = {"resourceSpans": otlp["resourceSpans"][:1]}
    other = {"resourceSpans": otlp["resourceSpans"][1:]}
    texts = {
        "data-wrapper.json": json.dumps(jaeger, indent=2),
        "bare-trace.json": json.dumps(trace, indent=2),
        "list-of-traces.json": json.dumps([trace]),
        "one-line.json": json.dumps(jaeger) + "\n",
        "otlp.json": json.dumps(otlp, indent=2),
        "v3-result.json": json.dumps({"result": otlp}),
        "collector.jsonl": json.dumps(half) + "\n\n" + json.dumps(other) + "\n",
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = tmp_path / name
        paths[name].write_text(text)
        # gzip detected by magic bytes, whatever the name says
        zipped = tmp_path / f"{name}.data"
        zipped.write_bytes(gzip.compress(text.encode()))
        paths[f"{name} (gzip)"] = zipped
    return paths


def test_every_shape_gives_the_same_rows(tmp_path):
    expected = rows_of(CASES / "good-trace.json")
    for label, path in _variants(tmp_path).items():
        assert rows_of(path) == expected, label


def test_converters_take_bytes_or_decoded_documents():
    jaeger, otlp = _jaeger_doc(), _otlp_doc()
    expected = rows_of(CASES / "good-trace.json")

    def rows(batches):
        import pyarrow as pa

        table = pa.Table.from_batches(list(batches))
        return sorted(table.to_pylist(), key=lambda row: repr(sorted(row.items())))

    assert rows(jaeger_to_batches(json.dumps(jaeger).encode())) == expected
    assert rows(jaeger_to_batches(jaeger)) == expected
    assert rows(jaeger_to_batches(jaeger["data"])) == expected
    assert rows(otlp_to_batches(otlp)) == expected
    assert rows(otlp_to_batches(json.dumps({"result": otlp}))) == expected
    assert rows(document_batches(otlp)) == expected


def test_stdin_and_gzip_through_the_cli(tmp_path):
    dataset = tmp_path / "ds"
    payload = gzip.compress(json.dumps(_otlp_doc()).encode())
    done = subprocess.run(
        [sys.executable, "-m", "tracekit", "import", "-", "--out", str(dataset)],
        input=payload,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"2 spans read, 2 added, 0 duplicates skipped" in done.stdout
    (source,) = read_manifest(dataset).sources
    assert source.details["files"][0]["path"] == "<stdin>"
    assert source.details["files"][0]["format"] == "otlp+gzip"


def test_many_traces_split_into_bounded_batches(monkeypatch):
    import tracekit.importers.documents as documents

    monkeypatch.setattr(documents, "BATCH_ROWS", 3)
    trace = _jaeger_doc()["data"][0]
    batches = list(jaeger_to_batches({"data": [trace] * 5}))
    assert sum(batch.num_rows for batch in batches) == 10
    assert max(batch.num_rows for batch in batches) <= 4


def _rows_from(batches) -> list[dict]:
    import pyarrow as pa

    return pa.Table.from_batches(list(batches)).to_pylist()


def test_otlp_older_and_protobuf_spellings():
    trace_b64 = "AAAAAAAAAAABI0VniavN7w=="  # 16 bytes: 0000000000000000 0123456789abcdef
    span_b64 = "AAAAAAAAAKE="  # 8 bytes: 00000000000000a1
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "instrumentationLibrarySpans": [
                    {
                        "instrumentationLibrary": {"name": "old-sdk", "version": "0.9"},
                        "spans": [
                            {
                                "traceId": trace_b64,
                                "spanId": span_b64,
                                "name": "x",
                                "kind": 3,
                                "startTimeUnixNano": 1000,
                                "endTimeUnixNano": "2999",
                                "traceState": "vendor=1",
                                "droppedAttributesCount": 2,
                                "droppedEventsCount": 1,
                                "attributes": [
                                    {
                                        "key": "list",
                                        "value": {
                                            "arrayValue": {
                                                "values": [
                                                    {"stringValue": "a<b"},
                                                    {"doubleValue": 1e21},
                                                    {"boolValue": True},
                                                    {
                                                        "kvlistValue": {
                                                            "values": [
                                                                {
                                                                    "key": "z",
                                                                    "value": {"intValue": "1"},
                                                                },
                                                                {"key": "a", "value": {}},
                                                            ]
                                                        }
                                                    },
                                                ]
                                            }
                                        },
                                    },
                                    {"key": "nan", "value": {"doubleValue": "NaN"}},
                                    {"key": "empty", "value": {}},
                                ],
                                "status": {"code": "STATUS_CODE_ERROR"},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    (row,) = _rows_from(otlp_to_batches(doc))
    assert row["trace_id"] == "00000000000000000123456789abcdef"
    assert row["span_id"] == "00000000000000a1"
    assert (row["kind"], row["status"], row["service"]) == ("client", "ERROR", None)
    assert (row["duration_us"], row["start_time"].microsecond) == (1, 1)
    assert dict(row["attributes"]) == {
        "otel.scope.name": "old-sdk",
        "otel.scope.version": "0.9",
        "list": '["a\\u003cb",1e+21,true,{"a":null,"z":1}]',
        "nan": "NaN",
        "empty": "",
        "w3c.tracestate": "vendor=1",
        "otel.dropped_attributes_count": "2",
        "otel.dropped_events_count": "1",
    }


def test_jaeger_status_rules():
    def span(tags):
        return {
            "traceID": "a" * 32,
            "spanID": "b" * 16,
            "startTime": 1,
            "duration": 1,
            "processID": "p",
            "tags": tags,
        }

    def status(tags):
        doc = {"traceID": "a" * 32, "spans": [span(tags)], "processes": {"p": {"serviceName": "s"}}}
        (row,) = _rows_from(jaeger_to_batches(doc))
        return row["status"], row["status_message"], dict(row["attributes"])

    assert status(
        [
            {"key": "error", "type": "bool", "value": True},
            {"key": "otel.status_code", "type": "string", "value": "OK"},
        ]
    ) == ("ERROR", None, {})
    # only a bool error=true means error (Jaeger's rule); a string stays an attribute
    assert status([{"key": "error", "type": "string", "value": "true"}]) == (
        "UNSET",
        None,
        {"error": "true"},
    )
    assert status([{"key": "error", "type": "bool", "value": False}]) == (
        "UNSET",
        None,
        {"error": "false"},
    )
    assert status(
        [
            {"key": "otel.status_code", "type": "string", "value": "ok"},
            {"key": "otel.status_description", "type": "string", "value": "fine"},
        ]
    ) == ("OK", "fine", {})
    assert status([{"key": "span.kind", "type": "string", "value": "weird"}]) == ("UNSET", None, {})
