"""The HotROD captures themselves: every request the driver made is a trace in the dataset, with
everything Jaeger holds of it; and scripts/hotrod.py's up/status/down by pid."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.hotrod import CAPTURES, HotrodCapture, _hotrod_script
from tests.plugins.importers import assert_same, compiled_or_skip, spans_per_trace
from tests.plugins.jaeger import REPO, load_script
from tracekit.connect import connect
from tracekit.importers import native

pytestmark = [pytest.mark.jaeger, pytest.mark.hotrod]


@pytest.fixture(params=CAPTURES)
def hotrod(request: pytest.FixtureRequest) -> HotrodCapture:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def test_every_request_is_one_trace_with_its_dispatch_span(hotrod: HotrodCapture) -> None:
    """Traces == requests: each answer's traceresponse id is a trace of the dataset whose root
    is the frontend's /dispatch server span, and the dataset holds no other trace."""
    records = hotrod.run.records
    assert records, hotrod.describe()
    assert all(r.status is not None and r.error is None for r in records), hotrod.describe()
    assert all(r.trace_id is not None for r in records), hotrod.describe()
    asked = [r.trace_id for r in records]
    assert len(set(asked)) == len(asked), hotrod.describe()
    con = connect(hotrod.dataset)
    roots = dict(
        con.execute(
            "SELECT r.trace_id, s.service || ' ' || s.kind || ' ' || s.operation "
            "FROM trace_roots AS r JOIN span_rows AS s USING (trace_id, span_id) "
            "WHERE r.is_root"
        ).fetchall()
    )
    assert set(roots) == set(asked), hotrod.describe()
    assert set(roots.values()) == {"frontend server /dispatch"}, hotrod.describe()
    # the HTTP status the driver got is the one the /dispatch span recorded
    recorded = dict(
        con.execute(
            "SELECT trace_id, conv_http_status(attributes) FROM span_rows "
            "WHERE parent_span_id IS NULL"
        ).fetchall()
    )
    assert {r.trace_id: str(r.status) for r in records} == recorded, hotrod.describe()


def test_span_counts_equal_jaegers_own(hotrod: HotrodCapture) -> None:
    """Per trace, the dataset has exactly as many spans as Jaeger's /api/traces/{id} returned
    once the trace had settled; and each request has the full HotROD shape (>= 30 spans)."""
    con = connect(hotrod.dataset)
    counts = dict(
        con.execute("SELECT trace_id, count(*) FROM span_rows GROUP BY trace_id").fetchall()
    )
    assert counts == hotrod.jaeger_spans, hotrod.describe()
    ok = {r.trace_id for r in hotrod.run.records if r.ok}
    assert min(counts[trace] for trace in ok) >= 30, hotrod.describe()


def test_jaegers_own_answer_is_read_compiled_as_in_python(
    hotrod: HotrodCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jaeger's own /api/traces answer for the capture (real HotROD spans, as a real Jaeger
    writes them) is mapped by the compiled converter, not left to Python, into the rows the
    Python importer gives, with every span Jaeger returned per trace."""
    compiled_or_skip()
    payload = (hotrod.dataset.parent / "api-traces-frontend.json").read_bytes()
    assert assert_same(payload, monkeypatch, must_map=True), hotrod.describe()
    batch = native.jaeger_batch(payload)
    assert batch is not None
    assert spans_per_trace(batch) == hotrod.jaeger_spans, hotrod.describe()


def test_driver_was_not_throttled(hotrod: HotrodCapture) -> None:
    """Open loop: every request went out on time (its own thread), so the rate is the one
    asked for; closed loop: the clients were busy the whole run."""
    summary = hotrod.run.summary()
    if hotrod.mode == "open":
        assert summary["lateness_max_s"] < 0.25, (hotrod.describe(), summary)
    else:
        assert summary["requests"] == hotrod.run.requests, hotrod.describe()


def test_hotrod_script_up_status_down_by_pid(tmp_path: Path, jaeger: Any) -> None:
    script = _hotrod_script()
    ports = dict(zip(script.SERVICES, script.free_ports(4), strict=True))
    flags = [f"--{name}-port={port}" for name, port in ports.items()]
    state = tmp_path / "hotrod.json"
    command = [sys.executable, str(REPO / "scripts" / "hotrod.py")]
    common = ["--state", str(state), *flags, "--otlp-endpoint", jaeger.otlp_http_url]

    def call(action: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, action, *common, *extra], capture_output=True, text=True, timeout=60
        )

    up = call("up", "-M", "-W", "5")
    assert up.returncode == 0, up.stderr
    instance = script.read_state(state)
    try:
        assert instance is not None and instance.ports == ports
        assert instance.fix_flags == ["-M", "-W", "5"]
        status = call("status")
        assert status.returncode == 0 and f"pid {instance.pid}" in status.stdout
        assert "fix flags -M -W 5" in status.stdout
        again = call("up")
        assert again.returncode == 2 and "already running" in again.stderr
    finally:
        down = call("down")
    assert down.returncode == 0 and f"pid {instance.pid}" in down.stdout
    assert not state.exists()
    assert not load_script("servers").pid_exists(instance.pid)
    status = call("status")
    assert status.returncode == 1 and "not running" in status.stdout


def test_missing_binary_without_go_says_how_to_enable(tmp_path: Path, monkeypatch: Any) -> None:
    script = load_script("hotrod")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TRACEKIT_HOTROD_BIN", raising=False)
    monkeypatch.setattr(script, "find_go", lambda: None)
    with pytest.raises(script.HotrodUnavailable, match="install Go.*hotrod.py install"):
        script.ensure_binary()


def test_open_loop_arrivals_are_poisson_and_seeded() -> None:
    """The same seed gives the same plan; the gaps are exponential at the rate asked for."""
    loadgen = load_script("loadgen")
    seed = random.randrange(2**32)
    plan = loadgen.arrivals(4.0, 2_000.0, seed)
    assert plan == loadgen.arrivals(4.0, 2_000.0, seed)
    # 8,000 arrivals expected; the Poisson count's sd is ~89: 5 sd either way
    assert abs(len(plan) - 8_000) < 450, seed
    gaps = [b - a for (a, _), (b, _) in zip(plan, plan[1:], strict=False)]
    share_short = sum(gap < 0.25 for gap in gaps) / len(gaps)  # P(gap < 1/rate) = 1 - 1/e
    assert abs(share_short - 0.632) < 0.03, seed
    assert {customer for _, customer in plan} == set(loadgen.CUSTOMERS), seed
