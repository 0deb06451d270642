"""scripts/jaeger.py (behind `make jaeger-up` / `make jaeger-down`): up, status, down by pid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.plugins.jaeger import REPO, _unavailable, load_jaeger_script

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
