"""Export against seeded random answers from the hostile server: every run exits 0 or 2, a
failure is one line with nothing stored, and nothing hangs.

The answers are mutations of the fixture's valid classic and v3 answers: bytes cut, flipped,
inserted or repeated; JSON values swapped for odd ones (huge numbers, deep nesting, long
text, wrong types); keys deleted; gzip wrapping (sometimes cut); odd statuses. The seed is
drawn per run and printed (and named in every assertion): rerun one with TRACEKIT_FUZZ_SEED.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.plugins.hostile_server import HostileServer, classic_answer, v3_answer
from tracekit.cli import main
from tracekit.dataset import dataset_files

CASES = 80
START, END = "2024-11-19T07:00:00Z", "2024-11-19T08:00:00Z"
ODD_VALUES: list[Any] = [
    None,
    2**70,
    -(2**63) - 1,
    -1,
    1e308,
    "",
    "x" * 200_000,
    "\u0000\ud7ff\U0001f600",
    [],
    {},
    True,
    "0" * 40,
    "not-hex-zz",
]


NESTED = "@@nested@@"  # replaced by [[[...]]] after encoding (json.dumps would recurse)


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every position in a JSON document (as a key/index path)."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


def _replace(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return document


def mutate(body: bytes, rng: random.Random) -> tuple[str, int, bytes, dict[str, str]]:
    """(what was done, status, body, headers) for one random mutation of `body`."""
    kind = rng.choice(
        ["cut", "flip", "insert", "repeat", "value", "value", "drop_key", "gzip", "status"]
    )
    headers = {"Content-Type": "application/json"}
    status = 200
    if kind == "cut":
        body = body[: rng.randrange(len(body))]
    elif kind == "flip":
        data = bytearray(body)
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        body = bytes(data)
    elif kind == "insert":
        position = rng.randrange(len(body))
        junk = "".join(
            rng.choice('{}[]",:\\0123456789e-. ntrufl') for _ in range(rng.randint(1, 8))
        )
        body = body[:position] + junk.encode() + body[position:]
    elif kind == "repeat":
        start = rng.randrange(len(body))
        end = rng.randrange(start, len(body) + 1)
        body = body[:end] + body[start:end] * rng.randint(1, 3) + body[end:]
    elif kind in ("value", "drop_key"):
        document = json.loads(body)
        paths = _paths(document)
        path = rng.choice(paths[1:])
        if kind == "drop_key" and isinstance(path[-1], str):
            parent = document
            for step in path[:-1]:
                parent = parent[step]
            del parent[path[-1]]
        else:
            document = _replace(document, path, rng.choice([*ODD_VALUES, NESTED]))
        body = json.dumps(document, separators=(",", ":")).encode()
        depth = rng.choice([50, 2_000, 50_000])
        body = body.replace(f'"{NESTED}"'.encode(), b"[" * depth + b"]" * depth)
    elif kind == "gzip":
        body = gzip.compress(body)
        headers["Content-Encoding"] = rng.choice(["gzip", "gzip", "deflate", "x-gzip"])
        if rng.random() < 0.5:
            body = body[: rng.randrange(len(body))]
    else:
        status = rng.choice([204, 301, 400, 404, 418, 429, 500, 503])
        if status == 429:
            headers["Retry-After"] = rng.choice(["0", "-5", "nan", "Thu, 01 Jan 1970", "9e99"])
    return kind, status, body, headers


def run_main(argv: list[str]) -> int:
    """The exit status of `tracekit ARGV` run in this process (the console script's main)."""
    try:
        main(argv)
    except SystemExit as exited:
        return int(exited.code or 0)
    return 0


def test_export_survives_random_answers(
    hostile: HostileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = int(os.environ.get("TRACEKIT_FUZZ_SEED") or random.randrange(2**32))
    with capsys.disabled():  # on the terminal, apart from the outputs each case checks
        print(f"\nexport fuzz seed {seed} (TRACEKIT_FUZZ_SEED={seed} reruns it)")
    rng = random.Random(seed)
    bases = {
        "v1": {"/api/traces": classic_answer(), "/api/services": b'{"data":["shop-api","mes"]}'},
        "v3": {"/api/v3/traces": v3_answer(), "/api/v3/services": b'{"services":["shop-api"]}'},
    }
    outcomes: Counter[str] = Counter()
    for case in range(CASES):
        api = rng.choice(["v1", "v3"])
        path, base = rng.choice(list(bases[api].items()))
        kind, status, body, headers = mutate(base, rng)
        hostile.clear()
        hostile.add("answer", path=path, code=status, body=body, headers=headers)
        out = tmp_path / f"case{case}"
        where = f"seed {seed}, case {case}: {api} {path} {kind} (HTTP {status})"
        started = time.monotonic()
        code = run_main(
            [
                "export",
                "--jaeger",
                hostile.url,
                "--out",
                str(out),
                "--start",
                START,
                "--end",
                END,
                "--chunk",
                "1h",
                "--api",
                api,
                "--timeout",
                "5",
                "--retries",
                "0",
                "--format",
                "json",
                "-q",
            ]
        )
        seconds = time.monotonic() - started
        captured = capsys.readouterr()
        assert seconds < 30, (where, seconds)
        assert code in (0, 2), (where, code, captured.err[-2000:])
        assert "Traceback" not in captured.err, (where, captured.err[-2000:])
        if code == 2:
            lines = captured.err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("tracekit: error: "), (where, lines)
            assert not out.exists() or not list(out.rglob("*.parquet")), where
            outcomes["refused"] += 1
        else:
            summary = json.loads(captured.out)
            stored = sum(pq.read_metadata(part).num_rows for part in dataset_files(out))
            assert stored == summary["added"], (where, summary)
            outcomes["exported"] += 1
    with capsys.disabled():
        print(f"export fuzz seed {seed}: {dict(outcomes)}")
    assert outcomes["refused"] and outcomes["exported"], (seed, outcomes)
