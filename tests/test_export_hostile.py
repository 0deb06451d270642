"""`tracekit export` against a hostile or broken Jaeger (tests/plugins/hostile_server.py).

Each run is the real command in a subprocess, measured: its peak RSS (from wait4's rusage, that
process only), its wall time, what it printed, what it stored. A failure must be one line on
stderr and exit 2, within bounded time and memory, storing nothing; credentials must never
appear in anything it prints or stores.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.cli import TRACEKIT
from tests.conftest import need
from tests.plugins.hostile_server import HostileServer
from tracekit.dataset import dataset_files

START, END = "2024-11-19T07:00:00Z", "2024-11-19T08:00:00Z"  # holds the fixture's trace
TOKEN_ENV, TOKEN = "TRACEKIT_TEST_HOSTILE_TOKEN", "tok_S3CR3T_abc123xyz"
API_KEY = "key-S3CR3T-0987654321fedcba"
PASSWORD = "pw-S3CR3T-42"
BASIC = base64.b64encode(f"ana:{PASSWORD}".encode()).decode()  # what basic auth sends
SECRETS = (TOKEN, API_KEY, PASSWORD, BASIC)
MiB = 1 << 20
# Peak RSS of a whole export against the well-behaved fixture, measured: ~335 MB (Python,
# pyarrow, msgspec, requests ~150 MB; numba and LLVM for the per-trace kernel a write runs
# ~120 MB of it, whatever the write's size). An answer of up to --max-answer (256 MiB) comes on
# top, read once; the bounds below leave room for that and for the allocator, nothing
# proportional to what the server sends (before: 8.5 GB for a 2 GiB bomb, 890 MB for a 400 MB body).
BASE_MB = 420
DEFAULT_LIMIT_MB = 128


@dataclass
class Run:
    """A finished `tracekit export`: exit code, output, wall seconds, peak RSS in MB."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float


# The export runs as a grandchild, started by this small launcher: Linux keeps a process's
# peak RSS across exec, and a child forked straight from pytest would start with pytest's.
LAUNCHER = """
import os, subprocess, sys, threading
peak_file, limit, command = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
child = subprocess.Popen(command)
killer = threading.Timer(limit, child.kill)
killer.start()
_, status, usage = os.wait4(child.pid, 0)
killer.cancel()
with open(peak_file, "w") as handle:
    handle.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def export(url: str, out: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """Run `tracekit export` on the window holding the fixture's trace; killed after 180 s."""
    command = [
        *TRACEKIT,
        "export",
        "--jaeger",
        url,
        "--out",
        str(out),
        "--start",
        START,
        "--end",
        END,
        "--chunk",
        "1h",
        "--no-progress",
        *args,
    ]
    with tempfile.TemporaryDirectory() as folder:
        peak_file = Path(folder) / "peak"
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(peak_file), "180", *command],
            capture_output=True,
            env={**os.environ, **(env or {})},
            timeout=240,
            check=False,
        )
        seconds = time.monotonic() - started
        return Run(
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
            seconds,
            int(peak_file.read_text()) / 1024,  # KiB on Linux
        )


def assert_refused(run: Run, *needles: str, seconds: float, peak_mb: float) -> None:
    """Exit 2, one line on stderr naming `needles`, no traceback, within the bounds."""
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert run.seconds < seconds, (run.seconds, lines[0])
    assert run.peak_mb < peak_mb, (run.peak_mb, lines[0])


def assert_nothing_stored(out: Path) -> None:
    assert not out.exists() or not list(out.rglob("*.parquet")), sorted(out.rglob("*"))


def assert_no_secret(run: Run, out: Path) -> None:
    """No credential in what the run printed or stored (data read as values: Parquet pages
    may be compressed, so the files' bytes would say nothing)."""
    texts = [run.stdout, run.stderr]
    if (out / "manifest.json").exists():
        texts.append((out / "manifest.json").read_text())
    for part in out.rglob("*.parquet") if out.exists() else ():
        texts.append(json.dumps(pq.read_table(part).to_pylist(), default=str))
    for secret in SECRETS:
        for text in texts:
            assert secret not in text, (secret, text[:500])


def test_the_fixture_is_a_working_jaeger(hostile: HostileServer, tmp_path: Path) -> None:
    """The baseline the hostile cases differ from: exit 0, the trace stored, and the memory
    the bounds below start from."""
    for api in ("v3", "v1"):
        out = tmp_path / api
        run = export(hostile.url, out, "--api", api, "--format", "json")
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        assert summary["spans"] == summary["added"] > 0, summary
        assert run.peak_mb < BASE_MB, run.peak_mb
        print(f"{api}: peak RSS {run.peak_mb:.0f} MB, {run.seconds:.1f} s")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize(
    ("api", "path", "in_flight"),
    # the fixture knows two services: a chunk's two searches are read at the same time
    [("v3", "/api/v3/traces", 2), ("v1", "/api/services", 1)],
)
def test_a_compression_bomb_is_refused_in_bounded_memory(
    hostile: HostileServer, tmp_path: Path, encoding: str, api: str, path: str, in_flight: int
) -> None:
    hostile.add("bomb", path=path, size=2 << 30, encoding=encoding)  # 2 MB -> 2 GiB
    out = tmp_path / "d"
    run = export(hostile.url, out, "--api", api)
    bound = BASE_MB + in_flight * DEFAULT_LIMIT_MB
    assert_refused(run, "larger than 128 MiB", "--max-answer", seconds=60, peak_mb=bound)
    assert_nothing_stored(out)
    small = export(hostile.url, out, "--api", api, "--max-answer", "8")
    assert_refused(small, "larger than 8 MiB", seconds=30, peak_mb=BASE_MB)
    print(f"peak RSS {run.peak_mb:.0f} MB (--max-answer 8: {small.peak_mb:.0f} MB)")


@pytest.mark.parametrize("framing", ["chunked", "close", "length"])
def test_a_huge_body_is_refused_in_bounded_memory(
    hostile: HostileServer, tmp_path: Path, framing: str
) -> None:
    hostile.add("huge", path="/api/traces", size=1 << 30, framing=framing)
    out = tmp_path / "d"
    run = export(hostile.url, out, "--api", "v1")
    bound = BASE_MB + 2 * DEFAULT_LIMIT_MB  # two searches at once
    assert_refused(run, "larger than 128 MiB", seconds=60, peak_mb=bound)
    print(f"peak RSS {run.peak_mb:.0f} MB, {run.seconds:.1f} s")
    assert_nothing_stored(out)


@pytest.mark.parametrize(
    ("kind", "needles", "attempts"),
    [
        # headers came, the body outlasts the deadline: the same request would again
        ("drip", ("still arriving after 2s", "--timeout"), 1),
        # no answer yet (its headers drip): retried, as a server that does not answer is
        ("drip_head", ("no answer within 2s", "--timeout", "2 attempts"), 2),
    ],
)
def test_a_dripping_answer_ends_at_the_deadline(
    hostile: HostileServer, tmp_path: Path, kind: str, needles: tuple[str, ...], attempts: int
) -> None:
    """A byte every 0.2 s: a per-read timeout never fires; the per-request deadline does."""
    hostile.add(kind, path="/api/v3/services", delay=0.2)
    out = tmp_path / "d"
    run = export(hostile.url, out, "--timeout", "2", "--retries", "1", "-q")
    # at most 2 attempts of 2 s, a backoff of at most 0.5 s, start-up
    assert_refused(run, *needles, seconds=15, peak_mb=BASE_MB)
    assert_nothing_stored(out)
    assert hostile.served[kind] == attempts


def test_a_redirect_loop_is_one_line(hostile: HostileServer, tmp_path: Path) -> None:
    hostile.add("redirect", path="/api/v3/services")
    out = tmp_path / "d"
    run = export(hostile.url, out)
    assert_refused(run, "more than 5 redirects", "/api/v3/services", seconds=20, peak_mb=BASE_MB)
    assert hostile.served["redirect"] == 6
    assert_nothing_stored(out)


def test_redirects_within_the_origin_keep_the_credentials(
    hostile: HostileServer, tmp_path: Path
) -> None:
    """A proxy moving /api/... to /jaeger/api/... on the same host: followed, with credentials."""
    hostile.add("redirect", path="/api/v3/services", times=1, location="/api/v3/services?x=1")
    run = export(
        hostile.url,
        tmp_path / "d",
        "--token-env",
        TOKEN_ENV,
        "--header",
        f"X-Api-Key: {API_KEY}",
        env={TOKEN_ENV: TOKEN},
    )
    assert run.returncode == 0, run.stderr
    assert hostile.requests[:2] == ["/api/v3/services", "/api/v3/services?x=1"]
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for h in hostile.headers)
    assert all(h.get("X-Api-Key") == API_KEY for h in hostile.headers)
    assert_no_secret(run, tmp_path / "d")


@pytest.mark.parametrize("auth", ["token", "basic"])
def test_credentials_never_cross_to_another_host(
    hostile: HostileServer, second_host: HostileServer, tmp_path: Path, auth: str
) -> None:
    """Every request is redirected to 127.0.0.2: it gets neither the Authorization header nor
    any --header (requests alone would forward the --header values)."""
    hostile.add("redirect", location=second_host.url + "/api/v3/services", path="/api/v3/serv")
    hostile.add("redirect", location=second_host.url + "/api/v3/traces", path="/api/v3/traces")
    if auth == "token":
        flags, env = ["--token-env", TOKEN_ENV], {TOKEN_ENV: TOKEN}
    else:
        flags, env = [], {"TRACEKIT_JAEGER_USER": "ana", "TRACEKIT_JAEGER_PASSWORD": PASSWORD}
    out = tmp_path / "d"
    run = export(hostile.url, out, *flags, "--header", f"X-Api-Key: {API_KEY}", env=env)
    assert run.returncode == 0, run.stderr
    assert hostile.headers and second_host.headers
    assert all("Authorization" in h and h.get("X-Api-Key") == API_KEY for h in hostile.headers)
    for headers in second_host.headers:
        assert "Authorization" not in headers and "X-Api-Key" not in headers, headers
        assert not any(secret in str(headers) for secret in SECRETS), headers
    assert_no_secret(run, out)


@pytest.mark.parametrize("code", [400, 403, 422, 500])
@pytest.mark.parametrize("auth", ["token", "basic", "header"])
def test_an_error_echoing_the_credentials_leaks_nothing(
    hostile: HostileServer, tmp_path: Path, code: int, auth: str
) -> None:
    """The issue's `HTTP 400 on /api/services: invalid credential: Bearer SECRETTOKEN_abc123`,
    for each way of sending credentials; with 500 the retries' log lines are checked too."""
    hostile.add("echo", code=code, path="/api/services")
    flags: list[str] = ["--api", "v1", "--retries", "1"]
    env: dict[str, str] = {}
    if auth == "token":
        flags += ["--token-env", TOKEN_ENV]
        env[TOKEN_ENV] = TOKEN
    elif auth == "basic":
        env.update(TRACEKIT_JAEGER_USER="ana", TRACEKIT_JAEGER_PASSWORD=PASSWORD)
    else:
        flags += ["--header", f"X-Api-Key: {API_KEY}"]
    out = tmp_path / "d"
    run = export(hostile.url, out, *flags, env=env)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert f"HTTP {code}" in run.stderr.strip().splitlines()[-1]
    if code != 500:
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert "invalid credential" in run.stderr or code == 403, run.stderr
    assert_no_secret(run, out)
    assert_nothing_stored(out)


@pytest.mark.parametrize("api", ["v3", "v1"])
def test_credentials_echoed_into_span_data_are_not_stored(
    hostile: HostileServer, tmp_path: Path, api: str
) -> None:
    hostile.add("echo_spans")
    out = tmp_path / "d"
    run = export(
        hostile.url,
        out,
        "--api",
        api,
        "--token-env",
        TOKEN_ENV,
        "--header",
        f"X-Api-Key: {API_KEY}",
        env={TOKEN_ENV: TOKEN},
    )
    assert run.returncode == 0, run.stderr
    rows = [row for part in dataset_files(out) for row in pq.read_table(part).to_pylist()]
    assert rows
    attributes = [dict(row["attributes"]) for row in rows]
    # the server did send them: the echoed headers are there, blanked
    assert all(a["http.request.header.authorization"] == "***" for a in attributes)
    assert all(a["http.request.header.x-api-key"] == "***" for a in attributes)
    assert_no_secret(run, out)


@pytest.mark.parametrize(
    ("api", "path"),
    [
        ("v3", "/api/v3/services"),
        ("v3", "/api/v3/traces"),
        ("v1", "/api/services"),
        ("v1", "/api/traces"),
    ],
)
def test_deeply_nested_json_is_one_line(
    hostile: HostileServer, tmp_path: Path, api: str, path: str
) -> None:
    hostile.add("nested", path=path, depth=100_000)
    out = tmp_path / "d"
    run = export(hostile.url, out, "--api", api)
    assert_refused(run, path, "unexpected answer from Jaeger", seconds=30, peak_mb=BASE_MB)
    assert_nothing_stored(out)


def test_an_encoding_not_asked_for_is_one_line(hostile: HostileServer, tmp_path: Path) -> None:
    hostile.add(
        "answer",
        path="/api/v3/services",
        body=b"\x1b\x00\x00",
        headers={"Content-Encoding": "br", "Content-Type": "application/json"},
    )
    out = tmp_path / "d"
    run = export(hostile.url, out)
    assert_refused(run, "Content-Encoding 'br'", seconds=20, peak_mb=BASE_MB)
    assert_nothing_stored(out)


@pytest.fixture
def read_only_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs mounted read-only at a fresh folder (root only, as in CI)."""
    need(
        os.geteuid() == 0 and shutil.which("mount") is not None,
        "mounting a tmpfs (root)",
        "run the tests as root, as CI and containers do",
    )
    point = tmp_path / "mnt"
    point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(point)]
    mounted = subprocess.run(command, capture_output=True, text=True, check=False)
    need(mounted.returncode == 0, "mounting a tmpfs", f"allow mount ({mounted.stderr.strip()})")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_read_only_disk_is_one_line(hostile: HostileServer, read_only_filesystem: Path) -> None:
    """The writer thread's OSError used to end the export with a traceback."""
    out = read_only_filesystem / "ds"
    run = export(hostile.url, out)
    assert_refused(run, str(out), "Read-only file system", seconds=30, peak_mb=BASE_MB)
    assert not out.exists()
