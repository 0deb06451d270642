"""The critical_path view: CRISP's 25 cases, hand-made edge cases, a random comparison with the
benchmark's pure-Python walk, a 10k-span trace and the simulated workshop."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.conftest import drawn
from tests.critical_path_reference import segments_outside
from tests.plugins.analytics import load_cases, run_case, span_table
from tests.plugins.critical_path import eval_table, rows_connection
from tracekit.connect import connect
from tracekit.schema import SPAN_SCHEMA

REPO = Path(__file__).resolve().parent.parent


def _bench() -> Any:
    """benchmarks/bench_critical_path.py: its generator and its per-trace walk (the oracle)."""
    spec = importlib.util.spec_from_file_location(
        "bench_critical_path", REPO / "benchmarks" / "bench_critical_path.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _bench()


@pytest.mark.parametrize("number", range(1, 26))
def test_crisp_case(number: int, eval_dir: Path) -> None:
    """Exclusive critical-path time per "[service] operation" equals CRISP's."""
    crisp = eval_dir / "crisp"
    expected = json.loads((crisp / "expected.json").read_text())[str(number)]
    con = rows_connection(eval_table(crisp / f"case-{number:02d}.json"))
    got = {
        f"[{service}] {operation}": total
        for service, operation, total in con.execute(
            "SELECT service, operation, sum(duration_us) FROM critical_path GROUP BY ALL"
        ).fetchall()
    }
    assert got == {name: us for name, us in expected.items() if us}
    root, tiled = con.execute(
        "SELECT (SELECT duration_us FROM spans WHERE parent_span_id IS NULL), "
        "(SELECT sum(duration_us) FROM critical_path)"
    ).fetchall()[0]
    # Children overflowing the root (cases 7-9) are cut at its end: the path tiles the root.
    assert tiled == root
    # No segment outside its span: the skewed siblings of cases 10 and 19-21 (other services,
    # so other clocks) are moved back, and the output says by how much.
    assert segments_outside(con) == []
    shifted = con.execute("SELECT count(*) FROM critical_path WHERE clock_shift_us > 0").fetchall()
    assert (shifted[0][0] > 0) == (number in (10, 19, 20, 21))


@pytest.mark.parametrize("case", load_cases("critical_path"))
def test_critical_path_case(case: dict[str, Any], span_dataset: Any) -> None:
    if case.get("raw"):
        con = rows_connection(span_table(case["spans"]))
    else:
        con = span_dataset(case["spans"])
    run_case(con, case)
    assert_tiles_roots(con)
    assert segments_outside(con) == []


def assert_tiles_roots(con: Any) -> None:
    """Per trace, the segments are disjoint, contiguous and cover the root span exactly."""
    rows = con.execute(
        "SELECT trace_id, epoch_us(start_time), epoch_us(end_time) FROM critical_path "
        "ORDER BY trace_id, start_time"
    ).fetchall()
    # The walk's root (tracekit/kernel/critical_path.py): rows of one span id reduced to one
    # (the longest, the earliest, one without a parent, the smaller hash of the parent id), then
    # the earliest span without a parent, else the earliest whose parent never arrived. Not
    # trace_roots: it picks among all rows, and a duplicate row of the root that names a parent
    # (rows a dataset never holds: writes keep one row per span id) makes the two differ.
    roots = {
        trace: (times[0], times[1])
        for trace, times in con.execute(
            "WITH kept AS (SELECT * FROM span_rows QUALIFY row_number() OVER ("
            "  PARTITION BY trace_id, span_id ORDER BY duration_us DESC, start_time,"
            "  parent_span_id IS NOT NULL, hash(parent_span_id)) = 1) "
            "SELECT s.trace_id, arg_min([epoch_us(s.start_time), epoch_us(s.end_time)],"
            "  (s.parent_span_id IS NOT NULL, p.span_id IS NOT NULL, s.start_time, s.span_id)) "
            "FROM kept AS s LEFT JOIN kept AS p "
            "  ON p.trace_id = s.trace_id AND p.span_id = s.parent_span_id "
            "GROUP BY s.trace_id"
        ).fetchall()
    }
    by_trace: dict[str, list[tuple[int, int]]] = {}
    for trace, start, end in rows:
        assert end > start
        by_trace.setdefault(trace, []).append((start, end))
    for trace, segments in by_trace.items():
        assert segments[0][0] == roots[trace][0], trace
        assert segments[-1][1] == roots[trace][1], trace
        for (_, end), (start, _) in zip(segments, segments[1:], strict=False):
            assert end == start, trace


def _segments(con: Any) -> dict[str, list[tuple[str, int, int]]]:
    out: dict[str, list[tuple[str, int, int]]] = {}
    for trace, span, start, end in con.execute(
        "SELECT trace_id, span_id, epoch_us(start_time) - $epoch, epoch_us(end_time) - $epoch "
        "FROM critical_path ORDER BY trace_id, start_time",
        {"epoch": bench.EPOCH_US},
    ).fetchall():
        out.setdefault(trace, []).append((span, start, end))
    return out


def _oracle(spans: list[Any]) -> dict[str, list[tuple[str, int, int]]]:
    by_trace: dict[str, list[Any]] = {}
    for span in spans:
        by_trace.setdefault(span[0], []).append(span)
    out = {}
    for trace, trace_spans in by_trace.items():
        segments = sorted((s[0], s[3], s[4]) for s in bench.walk_trace(trace_spans))
        if segments:
            out[trace] = sorted(segments, key=lambda s: s[1])
    return out


def _messy_trace(rng: random.Random, trace: str, with_duplicates: bool = False) -> list[Any]:
    """Random spans: arbitrary nesting, overflow, near-touching siblings, orphans, cycles."""
    n = rng.randrange(1, 30)
    ids = [f"s{i:02d}" for i in range(n)]
    spans = []
    for i, span_id in enumerate(ids):
        roll = rng.random()
        if i == 0:
            parent = None
        elif roll < 0.05:
            parent = "missing"
        elif roll < 0.08:
            parent = rng.choice(ids)  # may close a cycle, or point at itself
        else:
            parent = ids[rng.randrange(i)]
        start = rng.randrange(0, 2_000)
        end = start + rng.choice([0, rng.randrange(1, 50), rng.randrange(1, 1_500)])
        kind = rng.choice(["server", "client", "internal", "producer", "consumer"])
        links = (parent,) if parent and rng.random() < 0.05 else ()
        spans.append((trace, span_id, parent, f"svc{i % 4}", f"op{i % 3}", kind, start, end, links))
    if with_duplicates and rng.random() < 0.3:
        # a second row for one span id (as older tools stored them), its length different so
        # "the longest row" is one row, its parent perhaps a descendant (a cycle if both counted)
        span = rng.choice(spans)
        parent = rng.choice([span[2], rng.choice(ids)])
        end = span[7] + rng.choice([-1, 1]) * rng.randrange(1, 300)
        spans.append((*span[:2], parent, *span[3:7], max(span[6], end), span[8]))
    return spans


def test_matches_the_python_walk_on_random_traces() -> None:
    """Segment for segment, the view agrees with the per-trace walk on messy random traces."""
    rng = random.Random(drawn(5))
    spans = [s for t in range(300) for s in _messy_trace(rng, f"t{t:03d}")]
    spans += [s for t in range(300) for s in _messy_trace(rng, f"d{t:03d}", with_duplicates=True)]
    spans += bench.generate(200, seed=drawn(3))
    con = rows_connection(bench.to_table(spans))
    assert _segments(con) == _oracle(spans), f"seed {drawn(5)}, {drawn(3)}"
    assert_tiles_roots(con)
    assert segments_outside(con) == []


def test_times_before_1970() -> None:
    """Negative epoch times (event keys use shifts and bit masks, not // and %)."""
    rng = random.Random(drawn(9))
    spans = [s for t in range(100) for s in _messy_trace(rng, f"t{t:03d}", with_duplicates=True)]
    shift = -bench.EPOCH_US - 50_000_000_000
    con = rows_connection(
        bench.to_table([(*s[:6], s[6] + shift, s[7] + shift, s[8]) for s in spans])
    )
    got = {
        trace: [(span, start - shift, end - shift) for span, start, end in segments]
        for trace, segments in _segments(con).items()
    }
    assert got == _oracle(spans)


def test_null_lists_and_no_spans() -> None:
    """NULL links (not empty lists) keep children; with no spans every view is empty."""
    table = span_table(
        [
            {"id": "a", "service": "s", "op": "o", "start": 0, "end": 100},
            {"id": "b", "parent": "a", "service": "s", "op": "p", "start": 10, "end": 50},
        ]
    )
    links = table.schema.get_field_index("links")
    table = table.set_column(links, "links", pa.nulls(2, table.schema.field("links").type))
    con = rows_connection(table)
    assert con.execute(
        "SELECT span_id, duration_us FROM critical_path ORDER BY start_time"
    ).fetchall() == [("a", 10_000), ("b", 40_000), ("a", 50_000)]
    empty = rows_connection(SPAN_SCHEMA.empty_table())
    for view in ("critical_path", "bottlenecks", "bottleneck_operations", "n_plus_one"):
        assert empty.execute(f"SELECT count(*) FROM {view}").fetchall() == [(0,)]
    assert empty.execute("SELECT count(*) FROM slow_attributes()").fetchall() == [(0,)]


def test_ten_thousand_span_trace() -> None:
    """A 10k-span trace (a 2,500-call N+1 loop of client/server pairs plus nested work)."""
    spans: list[Any] = [("big", "root", None, "mes", "plan", "server", 0, 10_000_000, ())]
    t = 100
    for i in range(2_500):
        client, server = f"c{i:05d}", f"v{i:05d}"
        spans.append(("big", client, "root", "mes", "GET part", "client", t, t + 3_000, ()))
        spans.append(
            ("big", server, client, "storage", "GET part", "server", t + 200, t + 2_900, ())
        )
        spans.append(
            ("big", f"q{i:05d}", server, "storage", "SELECT", "client", t + 300, t + 1_300, ())
        )
        spans.append(
            (
                "big",
                f"r{i:05d}",
                server,
                "storage",
                "read file",
                "internal",
                t + 1_200 + i % 3,
                t + 2_800,
                (),
            )
        )  # skew-overlaps q by 0-100 us
        t += 3_000 + (i % 7)
    con = rows_connection(bench.to_table(spans))
    assert len(spans) == 10_001
    assert _segments(con) == _oracle(spans)
    assert_tiles_roots(con)
    assert segments_outside(con) == []


def test_simulated_workshop_tiles_every_trace(simulated: Any) -> None:
    path, _ = simulated("baseline", hours=1, seed=2)
    con = connect(path)
    assert_tiles_roots(con)
    assert segments_outside(con) == []
    traced, rooted = con.execute(
        "SELECT (SELECT count(DISTINCT trace_id) FROM critical_path), "
        "(SELECT count(*) FROM trace_roots)"
    ).fetchall()[0]
    assert traced == rooted
