"""``tracekit simulate`` on the command line: outputs, and one-line exit-2 errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest

import tracekit
from tests.cli import assert_user_error, run
from tracekit.cli import main
from tracekit.dataset import read_manifest
from tracekit.simulate import simulate

BAD_CASES = sorted((Path(__file__).parent / "cases" / "simulate" / "bad").glob("*.yaml"))


def _expected_error(case: Path) -> str:
    first = case.read_text().splitlines()[0]
    assert first.startswith("# error: "), case
    return first[len("# error: ") :]


def _run_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


@pytest.mark.parametrize("case", BAD_CASES, ids=[case.stem for case in BAD_CASES])
def test_bad_scenario_file_is_one_line_exit_2(
    case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    code, _, err = _run_in_process(capsys, "simulate", "--scenario", str(case), "--out", str(out))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert str(case) in lines[0]
    assert _expected_error(case) in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scenario", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["--duration", "ten minutes"], "--duration"),
        (["--duration", "0s"], "--duration: must be positive"),
        (["--load", "0"], "--load: must be a positive multiplier"),
        (["--load", "lots"], "--load"),
        (["--seed", "-1"], "--seed"),
        (["--start", "tomorrow"], "--start: not an ISO time"),
        (["--otlp", "localhost:4318"], "--otlp: expected an http(s) URL"),
        (["--truth", "/no/such/folder/truth.json"], "its folder does not exist"),
        (["--no-such-flag"], "--no-such-flag"),
    ],
)
def test_bad_flag_is_one_line_exit_2(
    args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    code, _, err = _run_in_process(capsys, "simulate", "--out", str(out), *args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0]
    assert not out.exists()


def test_an_output_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run_in_process(capsys, "simulate", "--duration", "5m")
    assert code == 2 and "--out DATASET and/or --otlp URL" in err


def test_console_script_writes_dataset_and_truth(tmp_path: Path) -> None:
    out, truth_file = tmp_path / "ds", tmp_path / "truth.json"
    proc = run(
        "simulate",
        "--out",
        str(out),
        "--scenario",
        "queue-loss",
        "--duration",
        "30m",
        "--seed",
        "4",
        "--start",
        "2026-01-05T12:00:00+03:00",
        "--truth",
        str(truth_file),
    )
    assert proc.returncode == 0, proc.stderr
    truth = json.loads(truth_file.read_text())
    assert truth["scenario"] == "queue-loss" and truth["seed"] == 4
    source = read_manifest(out).sources[0]
    assert source.kind == "simulate" and source.details["start"] == "2026-01-05T09:00:00Z"
    con = tracekit.connect(out)
    spans, first = con.execute("SELECT count(*), min(start_time) FROM spans").fetchone()
    assert spans == source.spans and f"{spans} spans" in proc.stdout
    assert first.isoformat() >= "2026-01-05T09:00:00"
    servers = dict(
        con.execute(
            "SELECT service, count(*) FROM spans WHERE kind IN ('server', 'consumer') GROUP BY 1"
        ).fetchall()
    )
    # queue-loss drops some telemetry, so the dataset may hold fewer spans than arrivals.
    for name, component in truth["components"].items():
        assert 0.97 * component["arrivals"] <= servers.get(name, 0) <= component["arrivals"]


def test_bad_scenario_through_the_console_script(tmp_path: Path) -> None:
    case = Path(__file__).parent / "cases" / "simulate" / "bad" / "zero-threads.yaml"
    proc = run("simulate", "--scenario", str(case), "--out", str(tmp_path / "ds"))
    assert_user_error(proc, str(case), "services.mes.threads")


def test_spans_kept_in_a_spill_file_are_those_kept_in_memory(tmp_path: Path) -> None:
    """The command keeps the spans in a file while it runs (50 days are ~5 GB): the spans read
    back, twice, are the very spans and truth of the same run held in memory."""
    seed = random.randrange(2**31)
    print(f"seed {seed}")
    args = {"duration_s": 1800.0, "seed": seed, "start": "2026-01-05T12:00:00Z", "batch_rows": 997}
    held = simulate("queue-loss", **args)
    spilled = simulate("queue-loss", **args, spill=tmp_path / "spans.arrow")
    assert isinstance(held.batches, list) and not isinstance(spilled.batches, list)
    assert (tmp_path / "spans.arrow").stat().st_size > 0
    expected = held.table()
    assert expected.num_rows > 997, f"seed {seed}: more than one batch"
    assert spilled.table().equals(expected), f"seed {seed}"
    assert pa.Table.from_batches(list(spilled.batches)).equals(expected), f"seed {seed}: again"
    assert spilled.truth == held.truth, f"seed {seed}"
    # the count the command prints, kept as the spans were made
    assert spilled.spans == held.spans == expected.num_rows > 0, f"seed {seed}"
