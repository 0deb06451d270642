"""Failures around tracekit, each one line and exit 2 with nothing changed (issue #13 item 7,
issue #17): a damaged or missing Parquet part, a damaged manifest, a read-only or full
filesystem; and bare `tracekit` prints the usage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli import assert_user_error, run
from tests.conftest import need
from tests.plugins.importers import CASES as IMPORT_CASES
from tests.plugins.importers import snapshot
from tracekit.dataset import dataset_files

BAD_MANIFESTS = sorted(
    (Path(__file__).parent / "cases" / "dataset" / "bad-manifest").glob("*.json")
)
GOOD_TRACE = IMPORT_CASES / "good-trace.json"
OTHER_TRACE = IMPORT_CASES / "good-trace.otlp.json"


def test_bare_tracekit_prints_the_usage() -> None:
    proc = run()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: tracekit [OPTIONS] COMMAND [ARGS]...")
    for command in ("import", "sql", "report", "demo"):
        assert f"\n  {command} " in proc.stdout
    assert proc.stderr == ""


@pytest.fixture
def imported(dataset: Path) -> Path:
    proc = run("import", str(GOOD_TRACE), "--out", str(dataset))
    assert proc.returncode == 0, proc.stderr
    return dataset


def _commands(dataset: Path) -> list[tuple[str, ...]]:
    return [
        ("sql", str(dataset), "SELECT count(*) FROM spans"),
        ("info", str(dataset)),
        ("capacity", str(dataset)),
        ("import", str(OTHER_TRACE), "--out", str(dataset)),
    ]


@pytest.mark.parametrize("damage", ["truncated", "missing", "not-parquet"])
def test_damaged_part_is_one_line_naming_it(imported: Path, damage: str) -> None:
    (part,) = dataset_files(imported)
    if damage == "truncated":
        os.truncate(part, os.path.getsize(part) // 2)
    elif damage == "missing":
        os.remove(part)
    else:
        Path(part).write_text("not parquet at all\n" * 20)
    before = snapshot(imported)
    for args in _commands(imported):
        proc = run(*args)
        assert_user_error(proc, part)
        assert ("missing" if damage == "missing" else "damaged") in proc.stderr, args
        assert snapshot(imported) == before, args


@pytest.mark.parametrize("case", BAD_MANIFESTS, ids=lambda path: path.stem)
def test_damaged_manifest_is_one_line_and_nothing_is_deleted(imported: Path, case: Path) -> None:
    """Each case file: {"set": fields to overwrite in the real manifest (or a whole
    replacement), "error": a fragment of the expected line, optionally "commands" to run}."""
    spec = json.loads(case.read_text())
    manifest = json.loads((imported / "manifest.json").read_text())
    manifest = {**manifest, **spec["set"]} if isinstance(spec["set"], dict) else spec["set"]
    (imported / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot(imported)
    for args in _commands(imported):
        if args[0] not in spec.get("commands", [args[0]]):
            continue
        assert_user_error(run(*args), spec["error"])
        assert snapshot(imported) == before, args


@pytest.fixture
def small_filesystem(tmp_path: Path):
    """A 512 KiB tmpfs mounted at a fresh folder, unmounted afterwards."""
    need(
        os.geteuid() == 0 and shutil.which("mount") is not None,
        "mounting a tmpfs (root)",
        "run the tests as root, as CI and containers do",
    )
    point = tmp_path / "mnt"
    point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(point)],
        capture_output=True,
        text=True,
        check=False,
    )
    need(
        mounted.returncode == 0, "mounting a tmpfs", f"allow mount here ({mounted.stderr.strip()})"
    )
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _big_trace(path: Path, spans: int = 20_000) -> Path:
    """A Jaeger file of ``spans`` spans with 200-byte tags: ~9 MB, ~5 MB staged."""
    rows = [
        {
            "traceID": f"{number // 10 + 1:032x}",
            "spanID": f"{number + 1:016x}",
            "operationName": "op",
            "startTime": 1_700_000_000_000_000 + number,
            "duration": 5,
            "tags": [{"key": "k", "type": "string", "value": f"{number}" + "x" * 200}],
            "processID": "p1",
        }
        for number in range(spans)
    ]
    trace = {"traceID": "1", "spans": rows, "processes": {"p1": {"serviceName": "s"}}}
    path.write_text(json.dumps({"data": [trace]}))
    return path


def test_full_filesystem_is_one_line_and_changes_nothing(
    small_filesystem: Path, tmp_path: Path
) -> None:
    dataset = small_filesystem / "ds"
    assert run("import", str(GOOD_TRACE), "--out", str(dataset)).returncode == 0
    before = snapshot(dataset)
    proc = run("import", str(_big_trace(tmp_path / "big.json")), "--out", str(dataset))
    assert_user_error(proc, str(dataset), "No space left on device", "nothing was stored")
    assert snapshot(dataset) == before
    simulated = run("simulate", "--duration", "6h", "--seed", "1", "--out", str(dataset))
    assert_user_error(simulated, "No space left on device")
    assert snapshot(dataset) == before


def test_read_only_filesystem_is_one_line(small_filesystem: Path) -> None:
    dataset = small_filesystem / "ds"
    assert run("import", str(GOOD_TRACE), "--out", str(dataset)).returncode == 0
    before = snapshot(dataset)
    subprocess.run(["mount", "-o", "remount,ro", str(small_filesystem)], check=True)
    for target in (dataset, small_filesystem / "new"):
        proc = run("import", str(OTHER_TRACE), "--out", str(target))
        assert_user_error(proc, str(target), "Read-only file system")
    assert snapshot(dataset) == before
    assert not (small_filesystem / "new").exists()
