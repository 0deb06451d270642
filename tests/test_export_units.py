"""Export's pure parts: time windows, interval arithmetic, progress state, redaction rules."""

from __future__ import annotations

import datetime as dt

import msgspec
import pyarrow as pa
import pytest

from tracekit.dataset import Manifest
from tracekit.errors import UserError
from tracekit.export.api import V3Api
from tracekit.export.client import ClientOptions, JaegerClient, safe_url
from tracekit.export.redact import parse_rules
from tracekit.export.state import done_intervals, mark_done, settled, source_key
from tracekit.export.window import (
    halve,
    merge,
    parse_duration_us,
    parse_time_us,
    resolve_window,
    split,
    subtract,
)
from tracekit.schema import EVENT, STRING_MAP

HOUR = 3_600_000_000


def test_durations_and_times() -> None:
    assert parse_duration_us("2h") == 2 * HOUR
    assert parse_duration_us("1h30m") == 5_400_000_000
    assert parse_duration_us("250ms") == 250_000
    assert parse_time_us("2026-01-05T09:00:00Z") == parse_time_us("2026-01-05T10:00:00+01:00")
    assert parse_time_us("2026-01-05T09:00:00") == parse_time_us("2026-01-05T09:00:00Z")
    for bad in ("", "2", "h", "-1h", "1x"):
        with pytest.raises(UserError, match="duration"):
            parse_duration_us(bad)
    with pytest.raises(UserError, match="ISO time"):
        parse_time_us("yesterday")


def test_resolve_window() -> None:
    now = parse_time_us("2026-01-05T12:00:00Z")
    assert resolve_window("2h", None, None, now=now) == (now - 2 * HOUR, now - 1)
    start, end = resolve_window(None, "2026-01-05T09:00:00Z", "2026-01-05T10:00:00Z")
    assert end - start == HOUR - 1
    with pytest.raises(UserError, match="alternatives"):
        resolve_window("1h", "2026-01-05T09:00:00Z", None)
    with pytest.raises(UserError, match="--since 2h"):
        resolve_window(None, None, None)
    with pytest.raises(UserError, match="empty window"):
        resolve_window(None, "2026-01-05T10:00:00Z", "2026-01-05T09:00:00Z")


def test_interval_arithmetic() -> None:
    assert merge([(5, 9), (1, 3), (4, 4), (20, 30)]) == [(1, 9), (20, 30)]
    assert subtract((0, 100), []) == [(0, 100)]
    assert subtract((0, 100), [(0, 100)]) == []
    assert subtract((0, 100), [(10, 20), (50, 200)]) == [(0, 9), (21, 49)]
    pieces = split((0, 99), 30)
    assert pieces == [(0, 29), (30, 59), (60, 89), (90, 99)]
    assert halve((0, 9)) == [(0, 4), (5, 9)]
    assert halve((7, 7)) == [(7, 7)]


def test_progress_state_merges_and_keeps_recent_data_open() -> None:
    manifest = Manifest()
    key = source_key("http://jaeger:16686", [])
    mark_done(key, (0, 99), {"spans": 5})(manifest)
    mark_done(key, (100, 199), {"spans": 7})(manifest)
    assert done_intervals(manifest, key) == [(0, 199)]
    assert manifest.export[key].totals["spans"] == 12
    # A chunk ending a minute ago with a five-minute overlap is not final yet.
    now = 10 * HOUR
    assert settled((now - HOUR, now - 60_000_000), 300_000_000, now=now) == (
        now - HOUR,
        now - 300_000_000,
    )
    assert settled((now - 60_000_000, now), 300_000_000, now=now) is None
    assert source_key("u", ["b", "a"]) != source_key("u", [])


def test_urls_never_carry_secrets() -> None:
    assert safe_url("https://bob:pw@jaeger.example/base/?token=t") == "https://jaeger.example/base"
    with pytest.raises(UserError, match="not an http"):
        JaegerClient(ClientOptions("jaeger:16686"))
    with pytest.raises(UserError, match="TRACEKIT_JAEGER_USER"):
        JaegerClient(ClientOptions("http://bob:pw@jaeger.example"))
    with pytest.raises(UserError, match="MISSING_TOKEN_VAR"):
        JaegerClient(ClientOptions("http://jaeger.example", token_env="MISSING_TOKEN_VAR"))
    with pytest.raises(UserError, match="Name: value"):
        JaegerClient(ClientOptions("http://jaeger.example", headers=["no colon"]))


def test_redaction_rules() -> None:
    table = pa.table(
        {
            "attributes": pa.array(
                [
                    [("customer.email", "a@b.c"), ("url.full", "https://x/p?card=1#f"), ("k", "v")],
                    None,
                    [("enduser.id", "42"), ("Customer.Phone", "+7 900")],
                ],
                STRING_MAP,
            ),
            "resource": pa.array([[("service.name", "mes")]] * 3, STRING_MAP),
            "events": pa.array(
                [
                    [
                        {
                            "time": dt.datetime(2026, 1, 1),
                            "name": "e",
                            "attributes": [("customer.email", "a@b.c"), ("x", "y")],
                        }
                    ],
                    None,
                    [],
                ],
                pa.list_(EVENT),
            ),
        }
    )
    redactor = parse_rules(["drop:customer.*", "hash:enduser.id", "strip-query"])
    rows = redactor.apply(table).to_pylist()
    assert rows[0]["attributes"] == [("url.full", "https://x/p"), ("k", "v")]
    assert rows[1]["attributes"] is None and rows[1]["events"] is None
    hashed = dict(rows[2]["attributes"])
    assert list(hashed) == ["enduser.id"] and hashed["enduser.id"].startswith("sha256:")
    assert rows[0]["events"][0]["attributes"] == [("x", "y")]
    assert rows[0]["resource"] == [("service.name", "mes")]
    with pytest.raises(UserError, match="--redact"):
        parse_rules(["mask:foo"])
    with pytest.raises(UserError, match="missing the key pattern"):
        parse_rules(["drop:"])


def _resource(service: str, *spans: dict) -> dict:
    return {
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "t"}, "spans": list(spans)}],
    }


def _span(trace_id: str, span_id: str, links: tuple[str, ...] = ()) -> dict:
    span: dict = {"traceId": trace_id, "spanId": span_id, "name": "op", "kind": 2}
    span["startTimeUnixNano"], span["endTimeUnixNano"] = "1000", "2000"
    if links:
        span["links"] = [{"traceId": link, "spanId": "00000000000000aa"} for link in links]
    return span


def test_v3_answers_split_into_traces_by_byte_search_or_exactly() -> None:
    """Each trace gets all its resources and its span count whichever path read them: the byte
    search (one trace id in the resource) or the exact decode (several ids, links elsewhere)."""
    a, b = "0000000000000000000000000000000a", "0000000000000000000000000000000b"
    resources = [
        _resource("shop", _span(a.upper(), "0000000000000001")),  # fast path, upper-case id
        _resource("mes", _span(a, "0000000000000002"), _span(a, "0000000000000003")),
        # two traces in one resource, and a link into trace b: the exact path
        _resource("crm", _span(a, "0000000000000004", links=(b,)), _span(b, "0000000000000005")),
        _resource("queue", _span(b[16:], "0000000000000006")),  # a 64-bit id, padded
        # spans of one trace with a link into another: kept whole, its span counted once
        _resource("crm", _span(b, "0000000000000007", links=(a,))),
    ]
    body = msgspec.json.encode({"result": {"resourceSpans": resources}})
    docs = {doc.trace_id: doc for doc in V3Api().parse(body, "test")}
    assert sorted(docs) == [a, b]
    assert (docs[a].spans, len(docs[a].payload)) == (4, 3)
    assert (docs[b].spans, len(docs[b].payload)) == (3, 3)
    assert docs[b].payload[-1] == msgspec.json.encode(resources[-1])
    span_ids = {
        trace_id: sorted(
            span["spanId"]
            for piece in doc.payload
            for scope in msgspec.json.decode(piece)["scopeSpans"]
            for span in scope["spans"]
        )
        for trace_id, doc in docs.items()
    }
    assert span_ids == {
        a: ["0000000000000001", "0000000000000002", "0000000000000003", "0000000000000004"],
        b: ["0000000000000005", "0000000000000006", "0000000000000007"],
    }
    with pytest.raises(UserError, match="test: unexpected answer from Jaeger"):
        V3Api().parse(body[:-3], "test")
