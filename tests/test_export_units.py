"""Export's pure parts: time windows, interval arithmetic, progress state, redaction rules."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from tracekit.errors import UserError
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
    manifest: dict = {}
    key = source_key("http://jaeger:16686", [])
    mark_done(key, (0, 99), {"spans": 5})(manifest)
    mark_done(key, (100, 199), {"spans": 7})(manifest)
    assert done_intervals(manifest, key) == [(0, 199)]
    assert manifest["export"]["sources"][key]["totals"]["spans"] == 12
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
