"""Export's pure parts: time windows, interval arithmetic, progress state, redaction rules."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import zlib

import msgspec
import pyarrow as pa
import pytest

from tracekit.cli import main
from tracekit.dataset import Manifest
from tracekit.errors import UserError
from tracekit.export.answer import INFLATE_STEP, Inflater
from tracekit.export.api import V3Api
from tracekit.export.client import ClientOptions, JaegerClient
from tracekit.export.redact import Scrubber, parse_rules
from tracekit.export.state import done_intervals, mark_done, settled, source_key
from tracekit.export.urls import safe_url
from tracekit.export.window import (
    chunk_count,
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


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:99999",  # port out of range: a ValueError inside safe_url before
        "http://localhost:abc",
        "http://localhost:-1",
        "http://localhost: 80",
        "http://localhost:０",
        "http://localhost:0",
        "http://[::1",  # urlsplit itself raises
        "http://[fe80::1x]:16686",  # not an IPv6 address
        "jaeger://h:16686/?token=SECRET-in-query",  # the query must not be echoed
        "ftp://bob:SECRET-pw@h/",
        "http://:80",
        "http://ho st:16686",
    ],
)
def test_bad_jaeger_urls_are_one_clear_line(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each is one UserError line, exit 2 through the command line, never the secret."""
    with pytest.raises(UserError, match="--jaeger") as raised:
        JaegerClient(ClientOptions(url))
    assert "SECRET" not in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(SystemExit) as exited:
        main(["export", "--jaeger", url, "--out", "/nonexistent/d", "--since", "1h"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "SECRET" not in err, err


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--since", "99999999999d"], "longer than the calendar"),
        (["--since", "9" * 400 + "d"], "not a duration"),  # float('9'*400) is inf
        (["--since", "30000d"], "before 1970"),
        (["--start", "9999-12-31T23:59:59-14:00"], "outside the years"),  # OverflowError
        (["--start", "1969-12-31T00:00:00Z"], "outside the years"),
        (["--since", "1h", "--overlap", "99999999999d"], "--overlap"),
        (["--since", "1h", "--header", "X-A: b\nc"], "line breaks"),
        (["--since", "1h", "--header", "X A: b"], "not a valid header name"),
    ],
)
def test_export_flags_that_used_to_crash_are_one_line(
    flags: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["export", "--jaeger", "http://127.0.0.1:9", "--out", "/nonexistent/d", *flags])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert needle in err, err


def test_too_many_chunks_is_refused_before_planning_them() -> None:
    assert chunk_count([(0, 25), (30, 30)], 10) == 4
    assert chunk_count([(0, HOUR - 1)], 1) == HOUR  # `--chunk 1us`: not built as a list


def test_scrubber_blanks_sent_credentials_and_their_shapes() -> None:
    scrubber = Scrubber.for_headers(
        {
            "Authorization": "Basic " + base64.b64encode(b"ana:pw-Secret-9").decode(),
            "X-Api-Key": "k3y-0123456789",  # a credential by its name
            "X-Scope-OrgID": "team",  # short and not named like one: left alone
            "X-Tenant-Token-Long": "t" * 20,
        }
    )
    assert "pw-Secret-9" in scrubber.secrets and "ana:pw-Secret-9" in scrubber.secrets
    assert "team" not in scrubber.secrets
    echoed = (
        "invalid credential: Basic YW5hOnB3LVNlY3JldC05 key=k3y-0123456789 "
        "pw=pw%2DSecret%2D9 (user ana:pw-Secret-9) access_token=abc team-api"
    )
    clean = scrubber.scrub(echoed)
    for secret in ("YW5hOnB3LVNlY3JldC05", "k3y-0123456789", "pw-Secret-9", "abc "):
        assert secret not in clean, clean
    assert "team-api" in clean and "invalid credential" in clean


def test_secrets_are_blanked_in_every_text_of_a_span_table() -> None:
    table = pa.table(
        {
            "operation": ["GET tok-123456", "ok"],
            "attributes": pa.array([[("h", "Bearer tok-123456")], [("x", "y")]], STRING_MAP),
            "events": pa.array(
                [
                    [{"time": dt.datetime(2026, 1, 1), "name": "e", "attributes": [("a", "b")]}],
                    [
                        {
                            "time": dt.datetime(2026, 1, 1),
                            "name": "n",
                            "attributes": [("k", "xtok-123456x")],
                        }
                    ],
                ],
                pa.list_(EVENT),
            ),
        }
    )
    clean = parse_rules([]).with_secrets(("tok-123456",)).apply(table).to_pylist()
    assert clean[0]["operation"] == "GET ***" and clean[1]["operation"] == "ok"
    assert clean[0]["attributes"] == [("h", "Bearer ***")]
    assert clean[1]["events"][0]["attributes"] == [("k", "x***x")]
    assert clean[0]["events"][0]["attributes"] == [("a", "b")]
    assert parse_rules([]).apply(table) is table  # no rules, no secrets: untouched


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_decompression_stops_at_the_limit(encoding: str) -> None:
    """A stream expanding 1000:1 yields at most `room` bytes, in pieces of INFLATE_STEP."""
    wbits = 31 if encoding == "gzip" else 15
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    bomb = compressor.compress(b" " * (64 << 20)) + compressor.flush()
    inflater = Inflater.for_encoding(encoding)
    assert inflater is not None
    pieces = inflater.feed(bomb, 10 << 20)
    assert sum(map(len, pieces)) == 10 << 20 and max(map(len, pieces)) <= INFLATE_STEP
    whole = Inflater.for_encoding(encoding)
    assert whole is not None
    assert b"".join(whole.feed(bomb, 100 << 20)) == b" " * (64 << 20)
    whole.check_complete()


def test_multi_member_gzip_and_raw_deflate_decode_whole() -> None:
    inflater = Inflater.for_encoding("x-gzip")
    assert inflater is not None
    data = gzip.compress(b"abc") + gzip.compress(b"def")
    assert b"".join(inflater.feed(data, 100)) == b"abcdef"
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = raw.compress(b"hello") + raw.flush()
    inflater = Inflater.for_encoding("deflate")
    assert inflater is not None and b"".join(inflater.feed(deflated, 100)) == b"hello"
    assert Inflater.for_encoding("identity") is None
    with pytest.raises(Exception, match="Content-Encoding 'br'"):
        Inflater.for_encoding("br")
