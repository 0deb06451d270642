"""`tracekit export` against the real Jaeger v2: complete, exact, resumable, robust, private.

The simulator sends a simulated hour to Jaeger over OTLP and writes the same spans straight to
Parquet; that Parquet is the ground truth every export is compared with.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import tracekit.export.run_export as run_export_module
from tests.cli import TRACEKIT, assert_user_error, run
from tests.conftest import drawn
from tests.otlp_post import wait_stored
from tests.plugins.fault_proxy import FaultProxy
from tracekit.dataset import dataset_files, read_manifest
from tracekit.export.client import ClientOptions, JaegerClient
from tracekit.export.run_export import ChunkSummary, ExportOptions, run_export
from tracekit.export.state import done_intervals, source_key
from tracekit.export.window import format_us, now_us, parse_time_us

pytestmark = [pytest.mark.jaeger, pytest.mark.slow]

START = "2025-03-14T11:00:00Z"  # a moment no other test sends spans for
END = "2025-03-14T12:00:00Z"
COMPARED = (
    "trace_id, span_id, parent_span_id, service, operation, kind, start_time, duration_us, status"
)


@dataclass
class Hour:
    """A simulated hour that is both in Jaeger and in a Parquet dataset (the truth)."""

    truth: pa.Table
    services: list[str]


def _table(dataset: Path) -> pa.Table:
    con = duckdb.connect()
    return con.sql(f"SELECT * FROM read_parquet({dataset_files(dataset)!r})").to_arrow_table()


def _differences(dataset: Path, truth: pa.Table) -> dict[str, int]:
    """Rows missing from / extra in the export, and repeated (trace_id, span_id) keys."""
    con = duckdb.connect()
    con.register("truth", truth)
    con.register("got", _table(dataset))
    one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "missing": one(
            f"SELECT count(*) FROM (SELECT {COMPARED} FROM truth "
            f"EXCEPT ALL SELECT {COMPARED} FROM got)"
        ),
        "extra": one(
            f"SELECT count(*) FROM (SELECT {COMPARED} FROM got "
            f"EXCEPT ALL SELECT {COMPARED} FROM truth)"
        ),
        "repeated": one("SELECT count(*) - count(DISTINCT (trace_id, span_id)) FROM got"),
        "rows": one("SELECT count(*) FROM got"),
    }


def _begun_by(truth: pa.Table, end: str) -> pa.Table:
    """The rows of `truth`'s traces whose first span starts by `end` (an export window's end).

    A simulation goes on emitting spans after its arrivals stop, while the queue drains: under
    a daytime load its last consumers' traces can begin after an export's "now", outside its
    window.
    """
    con = duckdb.connect()
    con.register("truth", truth)
    return con.sql(
        "SELECT * FROM truth WHERE trace_id IN (SELECT trace_id FROM truth GROUP BY ALL "
        "HAVING min(epoch_us(start_time)) <= ?)",
        params=[parse_time_us(end)],
    ).to_arrow_table()


def _exact(dataset: Path, truth: pa.Table) -> None:
    found = _differences(dataset, truth)
    assert found == {"missing": 0, "extra": 0, "repeated": 0, "rows": truth.num_rows}, found


def _export(url: str, out: Path, *args: str, window: tuple[str, str] = (START, END)) -> dict:
    proc = run(
        "export",
        "--jaeger",
        url,
        "--out",
        str(out),
        "--start",
        window[0],
        "--end",
        window[1],
        "--format",
        "json",
        "--no-progress",
        *args,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def hour(jaeger, tmp_path_factory: pytest.TempPathFactory) -> Hour:  # type: ignore[no-untyped-def]
    truth = tmp_path_factory.mktemp("export-truth") / "dataset"
    proc = run(
        "simulate",
        "--out",
        str(truth),
        "--otlp",
        jaeger.otlp_http_url,
        "--duration",
        "1h",
        "--seed",
        "11",
        "--start",
        START,
    )
    assert proc.returncode == 0, proc.stderr
    table = _table(truth)
    wait_stored(table, jaeger.query_url)
    services = sorted(set(table.column("service").to_pylist()))
    return Hour(table, services)


@pytest.mark.parametrize("api", ["v3", "v1"])
def test_export_yields_exactly_the_simulated_spans(
    jaeger, hour: Hour, tmp_path: Path, api: str
) -> None:
    out = tmp_path / "exported"
    traces = len(set(hour.truth.column("trace_id").to_pylist()))
    assert traces > 300  # far more than one search below may return
    summary = _export(jaeger.query_url, out, "--api", api, "--limit", "100", "--chunk", "20m")
    assert summary["api"] == api
    assert summary["splits"] > 0, summary  # searches came back full and were split
    assert summary["traces"] == traces and summary["added"] == hour.truth.num_rows
    _exact(out, hour.truth)

    before = read_manifest(out)
    again = _export(jaeger.query_url, out, "--api", api, "--limit", "100")
    assert again["chunks"] == 0 and again["spans"] == 0  # the manifest says it is all there
    assert read_manifest(out).files == before.files
    refreshed = _export(jaeger.query_url, out, "--api", api, "--limit", "100", "--refresh")
    assert refreshed["spans"] == hour.truth.num_rows and refreshed["added"] == 0
    assert read_manifest(out).files == before.files
    _exact(out, hour.truth)


@pytest.mark.parametrize(
    ("interval", "most", "rows", "groups"),
    [
        (60.0, 5, 10**9, [5, 5, 2]),  # all 12 finish within a minute: groups of at most 5
        (60.0, 16, 1, [1] * 12),  # a group stops growing at COMMIT_ROWS spans
        # from 0 s the interval grows to the last commit's duration / COMMIT_SHARE (here 15 s,
        # the longest): the first commit, then one for all the rest
        (0.0, 16, 10**9, None),
    ],
)
def test_chunks_finished_close_together_share_a_commit(
    jaeger,
    hour: Hour,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    interval: float,
    most: int,
    rows: int,
    groups: list[int] | None,
) -> None:
    """Within the commit interval, finished chunks wait to be committed together (at most
    MAX_CHUNKS_PER_COMMIT chunks or COMMIT_ROWS spans); every chunk is still recorded done."""
    monkeypatch.setattr(run_export_module, "COMMIT_INTERVAL_S", interval)
    monkeypatch.setattr(run_export_module, "MAX_CHUNKS_PER_COMMIT", most)
    monkeypatch.setattr(run_export_module, "COMMIT_ROWS", rows)
    monkeypatch.setattr(run_export_module, "COMMIT_SHARE", 1e-9)
    out = tmp_path / "d"
    commits: list[ChunkSummary] = []
    window = (parse_time_us(START), parse_time_us(END) - 1)
    client = JaegerClient(ClientOptions(jaeger.query_url))
    key = source_key(client.display_url, [])
    try:
        report = run_export(
            client,
            ExportOptions(out, window, chunk_us=5 * 60_000_000, overlap_us=0),
            on_chunk=commits.append,
        )
    finally:
        client.close()
    chunks = 12
    assert report.chunks_total == chunks and sum(c.chunks for c in commits) == chunks
    assert all(c.chunks <= most for c in commits)
    if groups is not None:
        assert [c.chunks for c in commits] == groups
    else:
        assert len(commits) == 2, [c.chunks for c in commits]
    assert done_intervals(read_manifest(out), key) == [window]
    _exact(out, hour.truth)


def test_auto_picks_v3(jaeger, hour: Hour, tmp_path: Path) -> None:
    summary = _export(
        jaeger.query_url, tmp_path / "d", "--service", "mes", window=(START, "2025-03-14T11:05:00Z")
    )
    assert summary["api"] == "v3" and summary["services"] == ["mes"]


def test_killed_export_resumes_without_loss_or_duplicates(
    jaeger, hour: Hour, fault_proxy, tmp_path: Path
) -> None:
    out = tmp_path / "exported"
    fault_proxy.add("slow", delay=0.05, times=None)  # stretch the run so it can be killed midway
    process = subprocess.Popen(
        [
            *TRACEKIT,
            "export",
            "--jaeger",
            fault_proxy.url,
            "--out",
            str(out),
            "--start",
            START,
            "--end",
            END,
            "--chunk",
            "3m",
            "--workers",
            "1",
            "--limit",
            "100",
            "-q",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    done: list = []
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "manifest.json").exists():
            sources = read_manifest(out).export
            done = [iv for entry in sources.values() for iv in entry.done_us]
            if done:
                break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "export finished before it could be killed"
    assert done, "no chunk was committed before the kill"
    partial = _differences(out, hour.truth)
    assert partial["extra"] == 0 and partial["repeated"] == 0 and partial["missing"] > 0

    fault_proxy.clear()  # progress is kept per Jaeger URL: resume through the same one
    resumed = _export(fault_proxy.url, out, "--chunk", "3m", "--limit", "100")
    assert 0 < resumed["chunks"] < 20  # only what the killed run had not committed
    _exact(out, hour.truth)


def test_faults_are_retried_and_nothing_is_lost(
    jaeger, hour: Hour, fault_proxy, tmp_path: Path
) -> None:
    search = "/api/v3/traces?"
    fault_proxy.add("status", 503, path=search, times=3)
    fault_proxy.add("status", 429, path=search, times=2, retry_after="0")
    fault_proxy.add("reset", path=search, times=3)
    fault_proxy.add("cut", path=search, times=4, after=0.5)
    fault_proxy.add("slow", path=search, times=2, delay=3.0)
    fault_proxy.add("status", 502, path="/api/v3/services", times=1)
    out = tmp_path / "exported"
    summary = _export(
        fault_proxy.url,
        out,
        "--limit",
        "100",
        "--chunk",
        "20m",
        "--timeout",
        "1",
        "--retries",
        "20",
    )
    served = fault_proxy.faults_served()
    assert served == 15, fault_proxy.served
    assert summary["retries"] == served  # every injected fault cost exactly one retry
    _exact(out, hour.truth)


def _drop_classic_roots(body: bytes) -> bytes:
    payload = json.loads(body)
    for trace in payload.get("data") or []:
        if len(trace["spans"]) > 1:
            trace["spans"] = [span for span in trace["spans"] if span["references"]]
    return json.dumps(payload).encode()


def _drop_v3_roots(body: bytes) -> bytes:
    """The answer without the root spans of traces with more than one span, written compact as
    Jaeger writes it."""
    payload = json.loads(body)
    resources = (payload.get("result") or {}).get("resourceSpans") or []
    spans = Counter(
        span["traceId"]
        for resource in resources
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    )
    for resource in resources:
        for scope in resource["scopeSpans"]:
            scope["spans"] = [
                span
                for span in scope["spans"]
                if span.get("parentSpanId") or spans[span["traceId"]] == 1
            ]
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("api", "search", "drop_roots"),
    [("v1", "/api/traces?", _drop_classic_roots), ("v3", "/api/v3/traces?", _drop_v3_roots)],
)
def test_partial_search_results_are_fetched_by_id(
    jaeger, hour: Hour, fault_proxy, tmp_path: Path, api, search, drop_roots
) -> None:
    fault_proxy.add("rewrite", path=search, times=None, transform=drop_roots)
    out = tmp_path / "exported"
    summary = _export(fault_proxy.url, out, "--api", api, "--limit", "100", "--chunk", "30m")
    assert summary["refetched"] > 300 and summary["incomplete"] == 0, summary
    _exact(out, hour.truth)


def test_401_is_one_clear_line(jaeger, fault_proxy, tmp_path: Path) -> None:
    fault_proxy.add("status", 401, times=None)
    proc = run("export", "--jaeger", fault_proxy.url, "--out", str(tmp_path / "d"), "--since", "1h")
    assert_user_error(proc, "401", "credentials")
    assert not (tmp_path / "d").exists()


def test_client_errors_are_one_clear_line(jaeger, hour: Hour, tmp_path: Path) -> None:
    out = str(tmp_path / "d")
    assert_user_error(
        run("export", "--jaeger", "ftp://x", "--out", out, "--since", "1h"), "http(s) URL"
    )
    assert_user_error(
        run(
            "export",
            "--jaeger",
            jaeger.query_url,
            "--out",
            out,
            "--since",
            "1h",
            "--service",
            "no-such-service",
        ),
        "no-such-service",
    )
    assert_user_error(
        run(
            "export",
            "--jaeger",
            jaeger.query_url,
            "--out",
            out,
            "--since",
            "1h",
            "--limit",
            "100000000",
            "-q",
        ),
        "--limit",
    )
    port = _free_port()
    proc = run(
        "export",
        "--jaeger",
        f"http://127.0.0.1:{port}",
        "--out",
        out,
        "--since",
        "1h",
        "--retries",
        "1",
        "-q",
    )
    assert_user_error(proc, f"127.0.0.1:{port}", "gave up after 2 attempts")
    assert not Path(out).exists()


def test_credentials_are_sent_but_never_stored_or_logged(
    jaeger, hour: Hour, fault_proxy, tmp_path: Path
) -> None:
    env_token, token = "TRACEKIT_TEST_TOKEN", "tok-SECRET-1234"
    window = (START, "2025-03-14T11:05:00Z")
    out = tmp_path / "d"
    proc = run(
        "export",
        "--jaeger",
        fault_proxy.url,
        "--out",
        str(out),
        "--start",
        window[0],
        "--end",
        window[1],
        "--token-env",
        env_token,
        "--header",
        "X-Scope-OrgID: tenant-SECRET-9",
        "--service",
        "mes",
        "--no-progress",
        env={env_token: token},
    )
    assert proc.returncode == 0, proc.stderr
    assert all(h.get("Authorization") == f"Bearer {token}" for h in fault_proxy.headers)
    assert all(h.get("X-Scope-OrgID") == "tenant-SECRET-9" for h in fault_proxy.headers)
    stored = (out / "manifest.json").read_text()
    for secret in (token, "tenant-SECRET-9"):
        assert secret not in stored + proc.stdout + proc.stderr

    fault_proxy.clear()
    proc = run(
        "export",
        "--jaeger",
        fault_proxy.url,
        "--out",
        str(out),
        "--start",
        window[0],
        "--end",
        window[1],
        "--service",
        "mes",
        "--refresh",
        env={"TRACEKIT_JAEGER_USER": "ana", "TRACEKIT_JAEGER_PASSWORD": "pw-SECRET"},
    )
    assert proc.returncode == 0, proc.stderr
    assert fault_proxy.headers and all(
        h.get("Authorization") == "Basic YW5hOnB3LVNFQ1JFVA==" for h in fault_proxy.headers
    )
    assert "pw-SECRET" not in (out / "manifest.json").read_text() + proc.stdout + proc.stderr


def test_redaction_happens_before_writing(jaeger, hour: Hour, tmp_path: Path) -> None:
    out = tmp_path / "d"
    _export(
        jaeger.query_url,
        out,
        "--service",
        "mes",
        "--redact",
        "drop:http.route",
        "--redact",
        "hash:host.name",
        "--redact",
        "drop:*.instance.id",
        window=(START, "2025-03-14T11:10:00Z"),
    )
    rows = _table(out).to_pylist()
    assert rows
    for row in rows:
        assert "http.route" not in dict(row["attributes"] or [])
        resource = dict(row["resource"] or [])
        assert "service.instance.id" not in resource
        assert resource["host.name"].startswith("sha256:")


def _simulate_recent(jaeger, folder: Path, ago_s: int, duration: str, seed: int) -> pa.Table:  # type: ignore[no-untyped-def]
    """Send spans that started `ago_s` seconds ago (heavy load: it may be night-time)."""
    start = format_us(now_us() - ago_s * 1_000_000)[:19] + "Z"
    proc = run(
        "simulate",
        "--out",
        str(folder),
        "--otlp",
        jaeger.otlp_http_url,
        "--duration",
        duration,
        "--seed",
        str(seed),
        "--load",
        "50",
        "--start",
        start,
    )
    assert proc.returncode == 0, proc.stderr
    table = _table(folder)
    wait_stored(table, jaeger.query_url)
    return table


def test_since_runs_pick_up_where_the_last_one_stopped(jaeger, tmp_path: Path) -> None:
    earlier = _simulate_recent(jaeger, tmp_path / "truth1", 20 * 60, "10m", seed=drawn(5))
    out = tmp_path / "d"
    args = ("--since", "30m", "--overlap", "2m", "--chunk", "5m", "--format", "json")
    first = run("export", "--jaeger", jaeger.query_url, "--out", str(out), *args)
    assert first.returncode == 0, first.stderr
    first_run = json.loads(first.stdout)
    first_expected = _begun_by(earlier, first_run["window"][1])
    assert first_run["chunks"] == 6 and first_run["added"] == first_expected.num_rows > 0

    # New spans arrive after the first run (newer than its unsettled last 2 minutes).
    later = _simulate_recent(jaeger, tmp_path / "truth2", 90, "20s", seed=drawn(6))
    second = run("export", "--jaeger", jaeger.query_url, "--out", str(out), *args)
    assert second.returncode == 0, second.stderr
    second_run = json.loads(second.stdout)
    expected = _begun_by(pa.concat_tables([earlier, later]), second_run["window"][1])
    # It asks only for the first run's unsettled tail and what came after: one chunk, which
    # holds all of `later` that has begun and what of `earlier` had not begun in the first run.
    assert second_run["chunks"] == 1
    assert second_run["added"] == expected.num_rows - first_expected.num_rows
    assert second_run["added"] >= _begun_by(later, second_run["window"][1]).num_rows > 0
    _exact(out, expected)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_tls_needs_the_ca_or_insecure(jaeger, hour: Hour, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    proxy = FaultProxy(jaeger.query_url, tls=(str(cert), str(key)))
    out = tmp_path / "d"
    window = ("--start", START, "--end", "2025-03-14T11:05:00Z", "--service", "mes", "-q")
    try:
        assert proxy.url.startswith("https://")
        refused = run("export", "--jaeger", proxy.url, "--out", str(out), *window)
        assert_user_error(refused, "TLS", "--ca-bundle")
        trusted = run(
            "export", "--jaeger", proxy.url, "--out", str(out), *window, "--ca-bundle", str(cert)
        )
        assert trusted.returncode == 0, trusted.stderr
        unverified = run(
            "export", "--jaeger", proxy.url, "--out", str(out), *window, "--insecure", "--refresh"
        )
        assert unverified.returncode == 0, unverified.stderr
        assert "0 new" in unverified.stdout
    finally:
        proxy.close()


def test_cut_connections_that_outlast_retries_then_rerun(
    jaeger, hour: Hour, fault_proxy, tmp_path: Path
) -> None:
    out = tmp_path / "exported"
    # The first searches go through, then every answer is cut halfway until the export gives up.
    fault_proxy.add("cut", path="/api/v3/traces?", times=None, skip=20, after=0.3)
    args = ("--start", START, "--end", END, "--chunk", "10m", "--limit", "100", "-q")
    failed = run(
        "export",
        "--jaeger",
        fault_proxy.url,
        "--out",
        str(out),
        *args,
        "--retries",
        "2",
        "--workers",
        "2",
    )
    assert_user_error(failed, "connection error", "gave up after 3 attempts")
    partial = _differences(out, hour.truth)
    assert partial["extra"] == 0 and partial["repeated"] == 0 and partial["missing"] > 0

    fault_proxy.clear()
    rerun = run("export", "--jaeger", fault_proxy.url, "--out", str(out), *args, "--format", "json")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["chunks"] < 6  # the chunks committed before stay done
    _exact(out, hour.truth)
