"""scripts/jaeger.py (behind `make jaeger-up` / `make jaeger-down`): up, status, down by pid."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import requests

from tests.otlp_post import post_spans, wait_stored
from tests.plugins.jaeger import REPO, _unavailable, load_jaeger_script
from tracekit.schema import SPAN_SCHEMA

pytestmark = [pytest.mark.jaeger]

SCRIPT = [sys.executable, str(REPO / "scripts" / "jaeger.py")]


def test_up_status_down_stop_exactly_that_pid(tmp_path: Path) -> None:
    script = load_jaeger_script()
    try:
        script.ensure_binary()
    except script.JaegerError as error:
        _unavailable(str(error))
    names = list(script.DEFAULT_PORTS)
    ports = dict(zip(names, script.free_ports(len(names)), strict=True))
    flags = [f"--{name.replace('_', '-')}-port={port}" for name, port in ports.items()]
    state = tmp_path / "state.json"
    call = [*SCRIPT, "--state", str(state), *flags]

    up = subprocess.run([*call[:2], "up", *call[2:]], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    instance = script.read_state(state)
    try:
        assert instance is not None and instance.ports == ports
        answer = requests.get(f"{instance.query_url}/api/v3/services", timeout=10)
        assert answer.status_code == 200
        status = subprocess.run([*call[:2], "status", *call[2:]], capture_output=True, text=True)
        assert status.returncode == 0 and f"pid {instance.pid}" in status.stdout
        again = subprocess.run([*call[:2], "up", *call[2:]], capture_output=True, text=True)
        assert again.returncode == 2 and "already running" in again.stderr
    finally:
        down = subprocess.run([*call[:2], "down", *call[2:]], capture_output=True, text=True)
    assert down.returncode == 0 and f"pid {instance.pid}" in down.stdout
    assert not state.exists()
    assert _gone(instance.pid)
    status = subprocess.run([*call[:2], "status", *call[2:]], capture_output=True, text=True)
    assert status.returncode == 1 and "not running" in status.stdout


def test_missing_binary_without_go_says_how_to_enable(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    script = load_jaeger_script()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TRACEKIT_JAEGER_BIN", raising=False)
    monkeypatch.setattr(script, "find_go", lambda: None)
    with pytest.raises(script.JaegerUnavailable, match="install Go.*make jaeger-up"):
        script.ensure_binary()


def _gone(pid: int) -> bool:
    """True when `pid` no longer runs (a zombie waiting for init to reap it counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" in status.read_text()


def test_badger_storage_persists_in_its_data_dir_and_a_temporary_one_is_removed(
    tmp_path: Path,
) -> None:
    """`up --storage badger`: spans survive a restart on the same --data-dir (which `down`
    keeps); without --data-dir the store is a temporary folder that `down` removes."""
    script = load_jaeger_script()
    try:
        script.ensure_binary()
    except script.JaegerError as error:
        _unavailable(str(error))
    names = list(script.DEFAULT_PORTS)
    flags = [
        f"--{name.replace('_', '-')}-port={port}"
        for name, port in zip(names, script.free_ports(len(names)), strict=True)
    ]
    state = tmp_path / "state.json"
    data = tmp_path / "badger"
    call = [*SCRIPT, "--state", str(state), *flags]
    table = _one_trace()

    def up(*extra: str) -> object:
        started = subprocess.run(
            [*call[:2], "up", *call[2:], "--storage", "badger", *extra],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert started.returncode == 0, started.stderr
        return script.read_state(state)

    def down() -> None:
        stopped = subprocess.run([*call[:2], "down", *call[2:]], capture_output=True, text=True)
        assert stopped.returncode == 0, stopped.stderr

    instance = up("--data-dir", str(data))
    try:
        assert instance.storage == "badger" and not instance.data_dir_owned
        post_spans(table, instance.otlp_http_url, instance.query_url)
    finally:
        down()
    assert (data / "keys").is_dir() and (data / "values").is_dir()  # kept: it is the user's
    instance = up("--data-dir", str(data))
    try:
        wait_stored(table, instance.query_url, timeout=30)  # served after the restart
    finally:
        down()
    instance = up()
    temporary = Path(instance.data_dir)
    try:
        assert instance.data_dir_owned and temporary.is_dir()
        answer = requests.get(f"{instance.query_url}/api/services", timeout=10)
        assert answer.status_code == 200 and answer.json()["data"] == []  # a fresh store
    finally:
        down()
    assert not temporary.exists() and _gone(instance.pid)


def _one_trace() -> pa.Table:
    """Two spans of one trace, as tests.otlp_post sends them."""
    start = dt.datetime(2025, 5, 7, 9, 0)
    row = {
        "trace_id": "5b8aa5a2d2c872e8321cf37308d69df2",
        "span_id": "051581bf3cb55c13",
        "parent_span_id": None,
        "service": "shop-api",
        "operation": "POST /orders",
        "kind": "server",
        "start_time": start,
        "end_time": start + dt.timedelta(milliseconds=20),
        "duration_us": 20_000,
        "status": "OK",
        "status_message": None,
        "attributes": [("http.route", "/orders")],
        "resource": [("service.name", "shop-api")],
        "links": [],
        "events": [],
    }
    child = {**row, "span_id": "5fb397be34d26b51", "parent_span_id": row["span_id"]}
    return pa.Table.from_pylist([row, child], schema=SPAN_SCHEMA)
