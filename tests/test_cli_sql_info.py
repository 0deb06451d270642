"""`tracekit sql` and `tracekit info` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.cli import assert_user_error, run
from tests.spanrows import span, table
from tracekit.dataset import write_spans


@pytest.fixture
def small(dataset: Path) -> Path:
    rows = [
        span("t1", "r", None, "shop-api", 0, 100),
        span("t1", "a", "r", "mes-api", 10, 50, status="ERROR"),
        span("t2", "o", "gone", "mes", 0, 7),
    ]
    write_spans(dataset, [table(rows)], source={"kind": "test"})
    return dataset


def test_sql_formats(small: Path) -> None:
    query = "SELECT service, duration_us FROM spans ORDER BY service"
    as_json = run("sql", str(small), query, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {"service": "mes", "duration_us": 7},
        {"service": "mes-api", "duration_us": 50},
        {"service": "shop-api", "duration_us": 100},
    ]
    as_csv = run("sql", str(small), query, "--format", "csv")
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [
        ["service", "duration_us"],
        ["mes", "7"],
        ["mes-api", "50"],
        ["shop-api", "100"],
    ]
    as_table = run("sql", str(small), query)
    assert as_table.stdout.splitlines()[0].split() == ["service", "duration_us"]
    assert "(3 rows)" in as_table.stdout


def test_sql_is_read_only_and_confined_to_the_dataset(small: Path, tmp_path: Path) -> None:
    before = sorted(p.name for p in small.rglob("*"))
    target = tmp_path / "out.csv"
    assert_user_error(run("sql", str(small), f"COPY spans TO '{target}'"), "only SELECT")
    assert_user_error(run("sql", str(small), "DROP VIEW spans"), "only SELECT")
    assert_user_error(run("sql", str(small), "SELECT * FROM read_csv('/etc/passwd')"), "query:")
    assert not target.exists()
    assert sorted(p.name for p in small.rglob("*")) == before


def test_sql_mistakes_are_one_line(small: Path, tmp_path: Path) -> None:
    assert_user_error(run("sql", str(small), "SELEC 1"), "query:", "syntax")
    assert_user_error(run("sql", str(small), "SELECT * FROM nope"), "nope")
    assert_user_error(run("sql", str(tmp_path / "none"), "SELECT 1"), "no tracekit dataset")
    assert_user_error(run("sql", str(small), "SELECT 1", "--format", "xml"), "--format")
    assert_user_error(run("sql", "--bogus"), "--bogus")


def test_info_summarises(small: Path) -> None:
    proc = run("info", str(small), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["totals"]["spans"] == "3"
    assert info["totals"]["traces"] == "2"
    assert info["totals"]["orphan spans"] == "1"
    assert info["totals"]["traces without root"] == "1"
    assert {s["service"]: s["errors"] for s in info["services"]} == {
        "mes": 0,
        "mes-api": 1,
        "shop-api": 0,
    }
    text = run("info", str(small)).stdout
    assert "orphan spans" in text and "shop-api" in text
