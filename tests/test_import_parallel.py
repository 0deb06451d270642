"""Several files read at once (Jaeger JSON by threads running the compiled converter, the rest by
worker processes) give the same dataset as a sequential read, in order, with the same errors and
the same --skip-bad reports."""

from __future__ import annotations

import copy
import gzip
import json
import os
import random
import sys
from pathlib import Path

import pytest

from tests.conftest import drawn
from tests.plugins.importers import CASES, compiled_or_skip, run, snapshot
from tracekit.connect import connect
from tracekit.dataset import read_manifest
from tracekit.importers import parallel
from tracekit.importers.parallel import PARALLEL_MIN_BYTES, default_jobs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from jaeger_gen import make_trace  # noqa: E402


def _inputs(tmp_path):
    paths = []
    template = (CASES / "good-trace.json").read_text()
    for number in range(4):
        path = tmp_path / f"in-{number}.json"
        path.write_text(template.replace("0123456789", f"{number:010d}"))
        paths.append(str(path))
    return paths


def _rows(dataset):
    con = connect(dataset)
    return con.execute("SELECT * FROM spans ORDER BY trace_id, span_id").fetchall()


def test_workers_give_the_same_dataset(tmp_path, capsys):
    inputs = _inputs(tmp_path)
    results = {}
    for jobs in ("1", "2"):
        dataset = tmp_path / f"ds-{jobs}"
        code, out, err = run(
            [
                "import",
                *inputs,
                str(CASES / "good-trace.otlp.json"),
                "--out",
                str(dataset),
                "--jobs",
                jobs,
            ],
            capsys,
        )
        assert code == 0, err
        assert "10 spans read, 10 added, 0 duplicates skipped" in out
        results[jobs] = _rows(dataset)
        files = read_manifest(dataset).sources[0].details["files"]
        assert [entry["format"] for entry in files] == ["jaeger"] * 4 + ["otlp"]
    assert results["1"] == results["2"]
    assert len(results["1"]) == 10


def test_worker_error_in_third_file_leaves_dataset_unchanged(tmp_path, capsys):
    inputs = _inputs(tmp_path)
    dataset = tmp_path / "ds"
    assert run(["import", inputs[0], "--out", str(dataset)], capsys)[0] == 0
    before = snapshot(dataset)
    code, _, err = run(
        [
            "import",
            inputs[1],
            inputs[2],
            str(CASES / "bad" / "start-time-string.json"),
            inputs[3],
            "--out",
            str(dataset),
            "--jobs",
            "2",
        ],
        capsys,
    )
    assert code == 2
    assert err.count("\n") == 1 and "$.data[1].spans[1].startTime" in err
    assert snapshot(dataset) == before


def test_worker_skip_reports(tmp_path, capsys):
    inputs = _inputs(tmp_path)
    dataset = tmp_path / "ds"
    code, out, err = run(
        [
            "import",
            inputs[0],
            str(CASES / "bad" / "missing-process.json"),
            inputs[1],
            "--out",
            str(dataset),
            "--jobs",
            "2",
            "--skip-bad",
        ],
        capsys,
    )
    assert code == 0, err
    assert err.count("skipped 1 span") == 1
    assert "7 spans read, 7 added" in out
    files = read_manifest(dataset).sources[0].details["files"]
    assert [entry["skipped"] for entry in files] == [0, 1, 0]
    assert json.loads(json.dumps(files))[1]["path"].endswith("missing-process.json")


def test_workers_by_default_only_for_enough_input(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "_available_memory", lambda: None)
    small = _inputs(tmp_path)
    assert default_jobs(small) == 1
    # sparse files: sizes count, contents are never read here
    large = []
    for number in range(3):
        path = tmp_path / f"large-{number}.json"
        with open(path, "wb") as handle:
            handle.truncate(PARALLEL_MIN_BYTES // 2)
        large.append(str(path))
    cpus = len(os.sched_getaffinity(0))
    assert default_jobs(large) == min(3, cpus, parallel.MAX_DEFAULT_JOBS)
    assert default_jobs(large[:1]) == 1  # one file: nothing to spread
    assert default_jobs([*large[:1], str(tmp_path / "missing.json"), *small]) == 1


def test_default_workers_fit_in_the_available_memory(tmp_path, monkeypatch):
    paths = []
    for number in range(4):
        path = tmp_path / f"large-{number}.json"
        with open(path, "wb") as handle:
            handle.truncate(PARALLEL_MIN_BYTES)
        paths.append(str(path))
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _: set(range(8)))
    per_worker = parallel.WORKER_BASE_BYTES + parallel.WORKER_BYTES_PER_INPUT_BYTE * (
        PARALLEL_MIN_BYTES
    )
    monkeypatch.setattr(parallel, "_available_memory", lambda: None)
    assert default_jobs(paths) == parallel.MAX_DEFAULT_JOBS  # 8 CPUs, capped
    monkeypatch.setattr(parallel, "_available_memory", lambda: 2 * per_worker + 1)
    assert default_jobs(paths) == 2
    monkeypatch.setattr(parallel, "_available_memory", lambda: per_worker // 2)
    assert default_jobs(paths) == 1  # never fewer than one: read here


def test_jaeger_files_go_to_threads_and_otlp_files_to_worker_processes(
    tmp_path, capsys, monkeypatch
):
    compiled_or_skip()
    otlp = CASES / "good-trace.otlp.json"
    packed = tmp_path / "good-trace.otlp.json.gz"
    packed.write_bytes(gzip.compress(otlp.read_bytes()))
    assert parallel.compiled(CASES / "good-trace.json")
    assert not parallel.compiled(otlp)
    assert not parallel.compiled(packed)
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    assert not parallel.compiled(pipe)  # not opened: that would wait for a writer
    pools = []

    def no_processes(workers):
        pools.append(workers)
        raise RuntimeError("a worker process was started")

    monkeypatch.setattr(parallel, "_worker_pool", no_processes)
    inputs = _inputs(tmp_path)
    code, out, err = run(["import", *inputs, "--out", str(tmp_path / "ds"), "--jobs", "2"], capsys)
    assert code == 0, err
    assert "8 spans read, 8 added" in out
    assert pools == []
    with pytest.raises(RuntimeError, match="worker process"):
        run(["import", *inputs, str(packed), "--out", str(tmp_path / "ds2"), "--jobs", "2"], capsys)
    assert pools == [2]


def test_split_and_repeated_traces_read_at_once_keep_the_first_occurrence(tmp_path, capsys):
    """Traces whose spans are spread over several files, and spans sent again with other tags
    in later files: reading files at once keeps the first file's version, as one at a time."""
    seed = drawn(71)
    print(f"seed {seed}")
    rng = random.Random(seed)
    traces = [make_trace(rng, 1_732_000_000_000_000 + k * 1_000_000, 8) for k in range(120)]
    files: list[list[dict]] = [[] for _ in range(6)]
    for trace in traces:
        for span in trace["spans"]:
            chosen = rng.randrange(len(files))
            files[chosen].append({"traceID": trace["traceID"], "span": span, "processes": trace})
            if rng.random() < 0.1:  # sent again later, changed
                again = copy.deepcopy(span)
                again["tags"].append({"key": "sent.again", "type": "bool", "value": True})
                later = rng.randrange(chosen, len(files))
                files[later].append(
                    {"traceID": trace["traceID"], "span": again, "processes": trace}
                )
    paths = []
    for number, entries in enumerate(files):
        data: dict[str, dict] = {}
        for entry in entries:
            trace = data.setdefault(
                entry["traceID"],
                {
                    "traceID": entry["traceID"],
                    "spans": [],
                    "processes": entry["processes"]["processes"],
                },
            )
            trace["spans"].append(entry["span"])
        path = tmp_path / f"part-{number}.json"
        path.write_text(json.dumps({"data": list(data.values())}))
        paths.append(str(path))
    results = {}
    for jobs in ("1", "3"):
        dataset = tmp_path / f"ds-{jobs}"
        code, out, err = run(["import", *paths, "--out", str(dataset), "--jobs", jobs], capsys)
        assert code == 0, err
        skipped = int(out.split(" duplicates skipped")[0].rsplit(" ", 1)[1])
        assert skipped > 0, out  # spans were sent again
        results[jobs] = _rows(dataset)
    assert len(results["1"]) == 120 * 8
    again = [row for row in results["1"] if "sent.again" in str(row)]
    assert again == []  # the first occurrence of every span is the one without the tag
    assert results["3"] == results["1"]
