"""`tracekit sql` bounded and confined: several statements, --timeout, Ctrl-C, --memory-limit,
and DuckDB's temp folder kept out of reach (issue #13 items 6 and 8, issue #17)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli import TRACEKIT, assert_user_error, run
from tests.spanrows import span, table
from tracekit.dataset import write_spans

# Runs for minutes on one core unless stopped: ~2 billion rows hashed into a distinct count.
ENDLESS = (
    "SELECT count(DISTINCT a) FROM (SELECT range * 7 % 1000000007 AS a FROM range(2000000000))"
)


@pytest.fixture
def small(dataset: Path) -> Path:
    rows = [span("t1", "r", None, "shop-api", 0, 100), span("t1", "a", "r", "mes", 10, 50)]
    write_spans(dataset, [table(rows)], source={"kind": "test"})
    return dataset


def test_several_statements_print_the_last_result(small: Path) -> None:
    proc = run(
        "sql", str(small), "SELECT 1 AS one; SELECT count(*) AS spans FROM spans", "--format", "csv"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["spans", "2"]
    # every statement runs: an error in an earlier one is reported
    assert_user_error(run("sql", str(small), "SELECT * FROM nope; SELECT 1"), "nope")


def test_timeout_stops_the_query_with_one_line(small: Path) -> None:
    started = time.monotonic()
    proc = run("sql", str(small), ENDLESS, "--timeout", "1.5", timeout=60)
    took = time.monotonic() - started
    assert_user_error(proc, "query: stopped after 1.5 s", "--timeout")
    assert took < 15, f"--timeout 1.5 took {took:.1f} s"


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_timeout_must_be_a_positive_number(small: Path, value: str) -> None:
    assert_user_error(run("sql", str(small), "SELECT 1", "--timeout", value), "--timeout")


def test_ctrl_c_stops_the_query_at_once(small: Path) -> None:
    with subprocess.Popen(
        [*TRACEKIT, "sql", str(small), ENDLESS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        time.sleep(3)  # the query runs by now (the command starts in ~1 s)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        took = time.monotonic() - sent
    text = err.decode()
    assert proc.returncode == 130, text
    assert text.strip().splitlines() == ["tracekit: interrupted; nothing half-done was kept"]
    assert "Traceback" not in text and out == b""
    assert took < 5, f"Ctrl-C took {took:.1f} s to stop the query"


def test_memory_limit_from_flag_and_environment(small: Path) -> None:
    query = "SELECT current_setting('memory_limit') AS m"
    flag = run("sql", str(small), query, "--memory-limit", "300MB", "--format", "csv")
    assert flag.returncode == 0, flag.stderr
    env = run("sql", str(small), query, "--format", "csv", env={"TRACEKIT_MEMORY_LIMIT": "1GiB"})
    assert env.returncode == 0, env.stderr
    # DuckDB shows its setting in binary units: 300 MB = 286.1 MiB; 1 GiB as given
    assert flag.stdout.splitlines()[1] == "286.1 MiB"
    assert env.stdout.splitlines()[1] == "1.0 GiB"
    both = run(
        "sql",
        str(small),
        query,
        "--memory-limit",
        "2GB",
        "--format",
        "csv",
        env={"TRACEKIT_MEMORY_LIMIT": "1GiB"},
    )
    assert both.stdout.splitlines()[1] == "1.8 GiB"  # the flag wins


@pytest.mark.parametrize("command", ["sql", "info", "capacity"])
def test_bad_memory_limit_is_one_line(small: Path, command: str) -> None:
    extra = ["SELECT 1"] if command == "sql" else []
    assert_user_error(
        run(command, str(small), *extra, "--memory-limit", "lots"), "--memory-limit", "lots"
    )
    assert_user_error(
        run(command, str(small), *extra, env={"TRACEKIT_MEMORY_LIMIT": "-5GB"}),
        "TRACEKIT_MEMORY_LIMIT",
    )


def test_a_query_beyond_the_memory_limit_spills_and_finishes(small: Path) -> None:
    # ~6M distinct 30-byte strings: a hash table several times the 64 MB limit
    query = (
        "SELECT count(*) AS n FROM "
        "(SELECT DISTINCT range::VARCHAR || 'xxxxxxxxxxxxxxxxxxxxxxx' FROM range(6000000))"
    )
    proc = run("sql", str(small), query, "--memory-limit", "64MB", "--format", "csv", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["n", "6000000"]


def test_a_query_that_cannot_fit_even_spilling_is_one_line_naming_the_limit(small: Path) -> None:
    # one list of 20M integers: an aggregate state DuckDB cannot spill, ~160 MB against 64 MB
    query = "SELECT len(list(range)) FROM range(20000000)"
    proc = run("sql", str(small), query, "--memory-limit", "64MB", timeout=300)
    assert_user_error(proc, "needs more memory than its limit", "--memory-limit")


def test_duckdb_temp_folder_in_the_working_directory_is_not_readable(
    small: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    (workdir / ".tmp").mkdir(parents=True)
    (workdir / ".tmp" / "secret.txt").write_text("do not read me\n")
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        for query in (
            "SELECT content FROM read_text('.tmp/secret.txt')",
            f"SELECT content FROM read_text('{workdir}/.tmp/secret.txt')",
            "SELECT count(*) FROM glob('.tmp/*')",
        ):
            proc = run("sql", str(small.resolve()), query)
            assert proc.returncode == 2, (query, proc.stdout)
            assert "do not read me" not in proc.stdout + proc.stderr
    finally:
        os.chdir(cwd)
    assert sorted(p.name for p in (workdir / ".tmp").iterdir()) == ["secret.txt"]
