"""Bad input: one line on stderr naming the file and where, exit 2, and the dataset unchanged;
with --skip-bad the good records are imported and the skipped ones summarised per file.

Cases are data files: tests/cases/import/bad/NAME.* with NAME.expected.json beside it:
``{"error": [fragments of the error line], "skip_bad": {"added": N, "summary": [fragments]}}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.plugins.importers import CASES, run, snapshot

BAD = CASES / "bad"
BAD_CASES = sorted(path for path in BAD.iterdir() if not path.name.endswith(".expected.json"))


def expected_for(case: Path) -> dict:
    stem = case.name.split(".", 1)[0]
    return json.loads((BAD / f"{stem}.expected.json").read_text())


@pytest.fixture
def seeded(tmp_path, capsys) -> Path:
    """A dataset already holding the good case trace."""
    dataset = tmp_path / "ds"
    code, _, err = run(["import", str(CASES / "good-trace.json"), "--out", str(dataset)], capsys)
    assert code == 0, err
    return dataset


def test_every_case_has_expectations():
    assert len(BAD_CASES) >= 9
    for case in BAD_CASES:
        assert set(expected_for(case)) == {"error", "skip_bad"}, case.name


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda path: path.name)
def test_bad_input_fails_with_one_line_and_changes_nothing(case, seeded, capsys):
    before = snapshot(seeded)
    code, out, err = run(["import", str(case), "--out", str(seeded)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tracekit: error: ")
    assert str(case) in lines[0]
    for fragment in expected_for(case)["error"]:
        assert fragment in lines[0]
    assert "Traceback" not in err
    assert snapshot(seeded) == before


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda path: path.name)
def test_skip_bad_imports_the_good_records(case, tmp_path, capsys):
    dataset = tmp_path / "ds"
    code, out, err = run(["import", str(case), "--out", str(dataset), "--skip-bad"], capsys)
    expected = expected_for(case)["skip_bad"]
    assert code == 0, err
    summary = [line for line in err.splitlines() if line.startswith(f"{case}: skipped ")]
    assert len(summary) == 1, err
    for fragment in expected["summary"]:
        assert fragment in summary[0]
    assert f"{expected['added']} added" in out


def test_failed_first_import_leaves_no_dataset_behind(tmp_path, capsys):
    dataset = tmp_path / "new"
    code, _, _ = run(["import", str(BAD / "truncated.json"), "--out", str(dataset)], capsys)
    assert code == 2
    assert not dataset.exists()


def test_missing_input_and_bad_out(tmp_path, capsys):
    code, _, err = run(
        ["import", str(tmp_path / "nope.json"), "--out", str(tmp_path / "d")], capsys
    )
    assert (code, err.count("\n")) == (2, 1)
    assert "nope.json: no such file" in err
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = run(["import", str(CASES / "good-trace.json"), "--out", str(target)], capsys)
    assert code == 2 and "is not a folder" in err


def test_error_in_third_of_three_files_leaves_dataset_unchanged(seeded, tmp_path, capsys):
    second = tmp_path / "second.json"
    second.write_text(
        (CASES / "good-trace.otlp.json").read_text().replace("0123456789", "9876543210")
    )
    before = snapshot(seeded)
    code, _, err = run(
        [
            "import",
            str(CASES / "good-trace.json"),
            str(second),
            str(BAD / "missing-process.json"),
            "--out",
            str(seeded),
        ],
        capsys,
    )
    assert code == 2 and "missing-process.json" in err
    assert snapshot(seeded) == before
    assert not [name for name in os.listdir(seeded) if name.startswith(".staging")]
