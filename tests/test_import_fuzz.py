"""Fuzzing `tracekit import` (issue #13): a few hundred seeded mutations of good Jaeger, OTLP,
JSON Lines and gzip inputs. Every one exits 0 or 2; a failure is one line on stderr with no
traceback and leaves the dataset exactly as it was; a success stores a readable dataset; none
hangs. The seed is drawn per run and printed: rerun one with TRACEKIT_FUZZ_SEED=N.

The defects it found have small repro inputs under tests/cases/import/bad.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.plugins.importers import CASES, run, snapshot
from tracekit.cli import main
from tracekit.dataset import dataset_files, read_manifest

MUTATIONS_PER_INPUT = 50  # x 6 inputs = 300 cases, ~30 s
CASE_SECONDS = 20  # far more than any case takes (~0.1 s): past it, the case hangs


def _inputs() -> dict[str, bytes]:
    jaeger = (CASES / "good-trace.json").read_bytes()
    otlp = (CASES / "good-trace.otlp.json").read_bytes()
    document = json.loads(otlp)
    line = json.dumps(document, separators=(",", ":")).encode()
    # JSON Lines as the collector's file exporter writes them: one document per line
    lines = b"\n".join([line, line.replace(b'"name":"', b'"name":"again-')]) + b"\n"
    return {
        "jaeger.json": jaeger,
        "otlp.json": otlp,
        "collector.jsonl": lines,
        "jaeger.json.gz": gzip.compress(jaeger),
        "otlp.json.gz": gzip.compress(otlp),
        "collector.jsonl.gz": gzip.compress(lines),
    }


Mutation = Callable[[random.Random, bytes], bytes]
_TOKENS = [
    b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"null", b"true", b"-", b"0", b"\x00",
    b"\xff\xfe", b"\n", b"1e999", b"-9223372036854775809", b"18446744073709551616",
    b'"\\ud800"', b"NaN", b"[" * 3000, b"{}" * 50,
]  # fmt: skip


def _flip(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]


def _cut(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def _delete(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.randint(1, 40) :]


def _insert(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(_TOKENS) + data[at:]


def _duplicate(rng: random.Random, data: bytes) -> bytes:
    start = rng.randrange(len(data))
    piece = data[start : start + rng.randint(1, 200)]
    at = rng.randrange(len(data) + 1)
    return data[:at] + piece + data[at:]


def _swap_value(rng: random.Random, data: bytes) -> bytes:
    """A number or string value replaced by a value of another type or range."""
    spots = [i for i, byte in enumerate(data) if byte == ord(":")]
    if not spots:
        return _insert(rng, data)
    at = rng.choice(spots) + 1
    end = at
    while end < len(data) and data[end : end + 1] not in (b",", b"}", b"]"):
        end += 1
    value = rng.choice(
        [b"null", b"true", b"[]", b"{}", b'"x"', b"-1", b"1.5", b"9223372036854775808",
         b'"18446744073709551615"', b"-9223372036854775808", b'"' + b"\xc3\x28" + b'"']
    )  # fmt: skip
    return data[:at] + value + data[end:]


MUTATIONS: tuple[Mutation, ...] = (_flip, _cut, _delete, _insert, _duplicate, _swap_value)


def _mutate(rng: random.Random, name: str, data: bytes) -> tuple[bytes, str]:
    """One to three mutations of the JSON (inside the gzip for .gz, or of the gzip bytes)."""
    steps = [rng.choice(MUTATIONS) for _ in range(rng.randint(1, 3))]
    label = "+".join(step.__name__.strip("_") for step in steps)
    if name.endswith(".gz") and rng.random() < 0.5:
        for step in steps:
            data = step(rng, data) or data[:1]
        return data, f"gzip bytes {label}"
    plain = gzip.decompress(data) if name.endswith(".gz") else data
    for step in steps:
        plain = step(rng, plain) or plain[:1]
    return (gzip.compress(plain) if name.endswith(".gz") else plain), label


@pytest.fixture(scope="module")
def seed() -> int:
    chosen = int(os.environ.get("TRACEKIT_FUZZ_SEED") or random.randrange(2**32))
    print(f"import fuzz seed: {chosen} (rerun with TRACEKIT_FUZZ_SEED={chosen})")
    return chosen


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset holding a trace already, copied for each case."""
    dataset = tmp_path_factory.mktemp("fuzz-base") / "ds"
    main(["import", str(CASES / "good-trace.otlp.json"), "--out", str(dataset)])
    return dataset


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def _cases(seed: int) -> Iterator[tuple[str, str, bytes, bool]]:
    rng = random.Random(seed)
    for name, data in _inputs().items():
        for _ in range(MUTATIONS_PER_INPUT):
            mutated, label = _mutate(rng, name, data)
            yield name, label, mutated, rng.random() < 0.4


def test_mutated_inputs_fail_cleanly_or_import(
    seed: int, seeded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = {0: 0, 2: 0}
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for number, (name, label, data, skip_bad) in enumerate(_cases(seed)):
            where = f"seed {seed}, case {number}: {name} {label}{' --skip-bad' * skip_bad}"
            case = tmp_path / f"case-{number}" / name
            case.parent.mkdir()
            case.write_bytes(data)
            dataset = case.parent / "ds"
            shutil.copytree(seeded, dataset)
            before = snapshot(dataset)
            signal.alarm(CASE_SECONDS)
            try:
                code, out, err = run(
                    ["import", str(case), "--out", str(dataset), *["--skip-bad"] * skip_bad],
                    capsys,
                )
            except Hang:
                pytest.fail(f"{where}: no answer after {CASE_SECONDS} s")
            finally:
                signal.alarm(0)
            assert code in (0, 2), f"{where}: exit {code}: {err}"
            assert "Traceback" not in err, f"{where}: {err}"
            outcomes[code] += 1
            if code == 2:
                lines = err.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("tracekit: error: "), (where, err)
                assert snapshot(dataset) == before, f"{where}: the dataset changed"
            else:
                manifest = read_manifest(dataset)
                rows = sum(
                    pq.ParquetFile(path).metadata.num_rows for path in dataset_files(dataset)
                )
                assert rows == manifest.counts["spans"], where
                assert out.startswith("imported 1 file"), (where, out)
                assert skip_bad or err == "", (where, err)
            shutil.rmtree(case.parent)
    finally:
        signal.signal(signal.SIGALRM, previous)
    print(f"import fuzz seed {seed}: {outcomes[0]} imported, {outcomes[2]} refused")
    assert outcomes[2] > 0, f"seed {seed}: no mutation was refused; the mutations do nothing"
