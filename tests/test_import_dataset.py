"""Importing into a dataset: idempotence, the summary line, and self time of the imported spans
against the Jaeger UI's trace-statistics fixtures."""

from __future__ import annotations

import json

import pytest

from tests.plugins.importers import CASES, run, snapshot
from tracekit.connect import connect
from tracekit.dataset import read_manifest


def test_import_twice_adds_nothing(tmp_path, capsys):
    dataset = tmp_path / "ds"
    inputs = [str(CASES / "good-trace.json"), str(CASES / "good-trace.otlp.json")]
    code, out, _ = run(["import", *inputs, "--out", str(dataset)], capsys)
    assert code == 0
    # the two files hold the same trace: the second adds nothing
    assert "imported 2 files (jaeger, otlp) into" in out
    assert "4 spans read, 2 added, 2 duplicates skipped" in out
    parts_before = [entry for entry in snapshot(dataset)[1] if entry[0].endswith(".parquet")]
    code, out, _ = run(["import", *inputs, "--out", str(dataset)], capsys)
    assert code == 0
    assert "4 spans read, 0 added, 4 duplicates skipped" in out
    # the manifest records the second import; no part file is added or changed
    assert [
        entry for entry in snapshot(dataset)[1] if entry[0].endswith(".parquet")
    ] == parts_before
    manifest = read_manifest(dataset)
    assert manifest.counts["spans"] == 2
    assert [source.added for source in manifest.sources] == [2, 0]
    assert [entry["format"] for entry in manifest.sources[0].details["files"]] == [
        "jaeger",
        "otlp",
    ]


def _self_time_cases():
    from tests.conftest import EVAL_DIR

    folder = EVAL_DIR / "jaeger-ui" / "trace-statistics"
    if not folder.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{folder} is absent"))]
    expected = json.loads((folder / "expected_self_us.json").read_text())
    return [pytest.param(name, id=name) for name in sorted(expected)]


# The dataset keeps one row per (trace_id, span_id). This fixture repeats span 2dc4b796e2127e32
# (two rows, 10 us each, no children): the UI counts both, the dataset stores it once.
DEDUPED = {"traceWithMultipleSpansWithTheSameValueInDifferentTags.json": {"service-one": -10}}


@pytest.mark.parametrize("name", _self_time_cases())
def test_self_time_per_service_matches_jaeger_ui(name, eval_dir, tmp_path, capsys):
    folder = eval_dir / "jaeger-ui" / "trace-statistics"
    expected = json.loads((folder / "expected_self_us.json").read_text())[name]
    for service, change in DEDUPED.get(name, {}).items():
        expected[service] += change
    dataset = tmp_path / "ds"
    code, _, err = run(["import", str(folder / name), "--out", str(dataset)], capsys)
    assert code == 0, err
    con = connect(dataset)
    got = dict(con.execute("SELECT service, sum(self_us) FROM spans GROUP BY service").fetchall())
    assert got == expected


def test_bundled_sample_imports(tmp_path, capsys):
    from tests.conftest import REPO

    dataset = tmp_path / "sample"
    sample = REPO / "data" / "sample" / "traces.json.gz"
    assert sample.stat().st_size < 300 * 1024
    code, out, err = run(["import", str(sample), "--out", str(dataset)], capsys)
    assert code == 0, err
    assert "(jaeger+gzip)" in out and "2618 spans read, 2618 added" in out
    con = connect(dataset)
    services = {row[0] for row in con.execute("SELECT DISTINCT service FROM spans").fetchall()}
    assert services == {
        "internet-shop",
        "shop-api",
        "mes-api",
        "mes",
        "model-storage",
        "order-queue",
        "crm",
    }
    traces, rooted = con.execute(
        "SELECT count(*), count(*) FILTER (has_root) FROM traces"
    ).fetchone()
    assert (traces, rooted) == (263, 263)
