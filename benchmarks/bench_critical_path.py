"""Critical path over ~500k spans: the `critical_path` view vs a pure-Python per-trace walk.

The view reads the segments stored when the spans were written (tracekit.per_trace), so the
query is a scan; the script also reports the one-off cost of that write, and the same query
with the walk computed at query time (`connect(live=True)`, what the view did before).

Run: ``.venv/bin/python benchmarks/bench_critical_path.py [--traces 25000] [--seed 7]``.

The spans come from a seeded generator of call trees shaped like real ones: sequential calls,
concurrent fan-outs, N+1 loops, client spans whose server child starts late or overflows the
client (clock skew), skew overlaps between sequential siblings, asynchronous consumers and
FOLLOWS_FROM spans. They are written as a tracekit dataset; the query reads that dataset.

The baseline is the straightforward way: the spans as Python tuples in memory, grouped by
trace, each trace walked with a dict of children and sorted lists. It implements exactly the
semantics documented in tracekit/sql/views/30_critical_path.sql (and is the oracle of the
randomized test in tests/test_critical_path.py). Both compute critical-path time per
(service, operation) and per trace; the script checks they agree before printing timings.
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cpu import own_cpu  # noqa: E402
from tracekit.connect import connect  # noqa: E402
from tracekit.dataset import write_spans  # noqa: E402
from tracekit.schema import SPAN_SCHEMA  # noqa: E402

# (trace_id, span_id, parent_span_id, service, operation, kind, start_us, end_us, link_span_ids)
Span = tuple[str, str, "str | None", str, str, str, int, int, tuple[str, ...]]

SERVICES = ("internet-shop", "shop-api", "mes-api", "mes", "model-storage", "crm", "order-queue")
OPERATIONS = (
    "GET /orders",
    "POST /orders",
    "plan",
    "GET /models/{id}",
    "GET /parts/{id}",
    "SELECT orders",
    "render",
    "validate",
    "publish",
    "process",
)
EPOCH_US = int((datetime(2026, 1, 5, 9) - datetime(1970, 1, 1)).total_seconds()) * 1_000_000


# ---------------------------------------------------------------------------------------------
# Generator


class _Trace:
    def __init__(self, rng: random.Random, trace_id: str) -> None:
        self.rng = rng
        self.trace_id = trace_id
        self.spans: list[Span] = []
        self.count = 0

    def new_id(self) -> str:
        self.count += 1
        return f"{self.count:016x}"

    def add(
        self,
        span_id: str,
        parent: str | None,
        service: str,
        operation: str,
        kind: str,
        start: int,
        end: int,
        links: tuple[str, ...] = (),
    ) -> None:
        self.spans.append(
            (
                self.trace_id,
                span_id,
                parent,
                service,
                operation,
                kind,
                start,
                max(start, end),
                links,
            )
        )

    def server(self, parent: str | None, service: str, start: int, depth: int) -> int:
        """A server span doing work and calls; returns its end."""
        rng = self.rng
        span_id = self.new_id()
        operation = rng.choice(OPERATIONS)
        t = start + rng.randrange(50, 2_000)
        if depth < 4 and rng.random() < 0.8:
            mode = rng.random()
            n = rng.randrange(1, 5 if depth < 2 else 3)
            if mode < 0.5:  # sequential calls
                for _ in range(n):
                    t = self.call(span_id, service, t, depth) + rng.randrange(0, 300)
            elif mode < 0.8:  # concurrent fan-out
                ends = [
                    self.call(span_id, service, t + rng.randrange(0, 200), depth) for _ in range(n)
                ]
                t = max(ends) + rng.randrange(0, 300)
            else:  # an N+1 loop of one operation, internal spans
                op = rng.choice(OPERATIONS)
                for _ in range(rng.randrange(5, 15)):
                    d = rng.randrange(200, 5_000)
                    child = self.new_id()
                    self.add(child, span_id, service, op, "client", t, t + d)
                    t += d + rng.randrange(0, 100)
            if rng.random() < 0.1:  # async publish; the consumer runs later, as a child
                producer = self.new_id()
                self.add(producer, span_id, service, "publish", "producer", t, t + 300)
                consumer_start = t + rng.randrange(100, 50_000)
                self.add(
                    self.new_id(),
                    producer,
                    "order-queue",
                    "process",
                    "consumer",
                    consumer_start,
                    consumer_start + rng.randrange(1_000, 20_000),
                )
                t += 300
        end = t + rng.randrange(50, 3_000)
        self.add(span_id, parent, service, operation, "server", start, end)
        return end

    def call(self, parent: str, caller: str, start: int, depth: int) -> int:
        """A client span with a server child in another service (queueing, network, skew)."""
        rng = self.rng
        span_id = self.new_id()
        callee = rng.choice([s for s in SERVICES if s != caller])
        wait = rng.randrange(100, 500) if rng.random() < 0.8 else rng.randrange(1_000, 100_000)
        server_end = self.server(span_id, callee, start + wait, depth + 1)
        end = server_end + rng.randrange(100, 500)
        if rng.random() < 0.05:  # clock skew: the client ends before its server child
            end = server_end - rng.randrange(1, 400)
        self.add(span_id, parent, caller, f"call {callee}", "client", start, end)
        return end


def generate(traces: int, seed: int) -> list[Span]:
    """Spans of ``traces`` seeded traces (about 20 spans each)."""
    rng = random.Random(seed)
    spans: list[Span] = []
    for i in range(traces):
        trace = _Trace(rng, f"{rng.getrandbits(128):032x}")
        start = i * 2_000_000 // 3
        trace.server(None, "internet-shop", start, 0)
        if rng.random() < 0.05:  # a FOLLOWS_FROM span: a second top-level span, linked
            follower = trace.new_id()
            trace.add(
                follower,
                None,
                "crm",
                "sync",
                "internal",
                start + 5_000,
                start + 9_000,
                ("0000000000000001",),
            )
        spans.extend(trace.spans)
    return spans


def to_table(spans: Sequence[Span]) -> pa.Table:
    """The spans as an Arrow table in SPAN_SCHEMA."""
    cols = list(zip(*spans, strict=True))
    start = pa.array([EPOCH_US + s for s in cols[6]], pa.int64()).cast(pa.timestamp("us"))
    end = pa.array([EPOCH_US + e for e in cols[7]], pa.int64()).cast(pa.timestamp("us"))
    n = len(spans)
    links = [
        [{"trace_id": t, "span_id": x, "kind": "follows_from"} for x in ls]
        for t, ls in zip(cols[0], cols[8], strict=True)
    ]
    return pa.table(
        {
            "trace_id": pa.array(cols[0]),
            "span_id": pa.array(cols[1]),
            "parent_span_id": pa.array(cols[2], pa.string()),
            "service": pa.array(cols[3]),
            "operation": pa.array(cols[4]),
            "kind": pa.array(cols[5]),
            "start_time": start,
            "end_time": end,
            "duration_us": pa.array([e - s for s, e in zip(cols[6], cols[7], strict=True)]),
            "status": pa.array(["UNSET"] * n),
            "status_message": pa.nulls(n, pa.string()),
            "attributes": pa.array([[]] * n, SPAN_SCHEMA.field("attributes").type),
            "resource": pa.array([[]] * n, SPAN_SCHEMA.field("resource").type),
            "links": pa.array(links, SPAN_SCHEMA.field("links").type),
            "events": pa.array([[]] * n, SPAN_SCHEMA.field("events").type),
        },
        schema=SPAN_SCHEMA,
    )


# ---------------------------------------------------------------------------------------------
# Baseline: the straightforward per-trace walk


def walk_trace(spans: Iterable[Span]) -> list[tuple[str, str, str, int, int]]:
    """Critical-path segments (span_id, service, operation, start_us, end_us) of one trace."""
    nodes: dict[str, Span] = {}
    for span in spans:  # duplicate ids: keep the longest row, as critical_path_nodes does
        old = nodes.get(span[1])
        if old is None or _keep_key(span) < _keep_key(old):
            nodes[span[1]] = span
    children: dict[str, list[tuple[int, int, str, int, int]]] = defaultdict(list)
    roots = []
    for span_id, span in nodes.items():
        parent_id = span[2]
        parent = nodes.get(parent_id) if parent_id is not None else None
        if parent is None:
            roots.append(span)
            continue
        if parent_id == span_id or parent_id in span[8]:
            continue
        if span[5] == "consumer" and parent[5] == "producer":
            continue
        cs, ce = max(span[6], parent[6]), min(span[7], parent[7])
        if ce > cs:
            children[parent_id].append((cs, ce, span_id, span[6], span[7]))
    if not roots:
        return []
    root = min(roots, key=lambda r: (r[2] is not None, r[6], r[1]))
    segments: list[tuple[str, str, str, int, int]] = []
    # (span_id, shift, lo, hi): lo/hi bound the span's segments in the shifted output times
    stack = [(root[1], 0, root[6], root[7])]
    while stack:
        span_id, shift, lo, hi = stack.pop()
        span = nodes[span_id]
        # last-finishing first; ties: earliest clipped start, earliest and longest unclipped
        kids = sorted(children.get(span_id, ()), key=lambda k: (-k[1], k[0], k[3], -k[4], k[2]))
        chain: list[tuple[int, int, str, int]] = []  # (cs, ce, id, shift)
        if kids:
            starts = sorted(k[0] for k in kids)
            ends = sorted(k[1] for k in kids)
            duration = span[7] - span[6]
            current, current_shift, position = kids[0], shift, 0
            while True:
                if current[1] - current_shift <= lo:
                    break  # entirely before the span's region: it and earlier ones are cut off
                chain.append((current[0], current[1], current[2], current_shift))
                found = None
                for j in range(position + 1, len(kids)):
                    candidate = kids[j]
                    if candidate[1] <= current[0]:
                        found = (j, candidate, 0)
                        break
                    overlap = candidate[1] - current[0]
                    if (
                        candidate[0] < current[0]
                        and candidate[1] < current[1]
                        and overlap * 100 < duration
                        and _events(starts, ends, current[0], candidate[1]) == 2
                        # clock skew only between clocks that can differ: here (no resource
                        # attributes) spans of different services
                        and nodes[candidate[2]][3] != nodes[current[2]][3]
                    ):
                        found = (j, candidate, overlap)
                        break
                if found is None:
                    break
                position, current = found[0], found[1]
                current_shift += found[2]
        top = span[7] - shift
        for cs, ce, child_id, child_shift in chain:
            _emit(segments, span, ce - child_shift, top, lo, hi)
            top = cs - child_shift
            stack.append(
                (child_id, child_shift, max(cs - child_shift, lo), min(ce - child_shift, hi))
            )
        _emit(segments, span, span[6] - shift, top, lo, hi)
    return segments


def _keep_key(span: Span) -> tuple:
    return (-(span[7] - span[6]), span[6], span[2] is not None, span[2] or "", span[3], span[4])


def _events(starts: list[int], ends: list[int], low: int, high: int) -> int:
    """Children's start and end events inside [low, high]."""
    return (
        bisect.bisect_right(starts, high)
        - bisect.bisect_left(starts, low)
        + bisect.bisect_right(ends, high)
        - bisect.bisect_left(ends, low)
    )


def _emit(out: list, span: Span, start: int, end: int, lo: int, hi: int) -> None:
    start, end = max(start, lo), min(end, hi)
    if end > start:
        out.append((span[1], span[3], span[4], start, end))


def python_walk(spans: Sequence[Span]) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Critical-path time per (service, operation) and per trace, trace by trace."""
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[span[0]].append(span)
    per_op: dict[tuple[str, str], int] = defaultdict(int)
    per_trace: dict[str, int] = {}
    for trace_id, trace_spans in by_trace.items():
        total = 0
        for _, service, operation, start, end in walk_trace(trace_spans):
            per_op[(service, operation)] += end - start
            total += end - start
        per_trace[trace_id] = total
    return dict(per_op), per_trace


# ---------------------------------------------------------------------------------------------

PER_OP_SQL = "SELECT service, operation, sum(duration_us)::BIGINT FROM critical_path GROUP BY ALL"
PER_TRACE_SQL = "SELECT trace_id, sum(duration_us)::BIGINT FROM critical_path GROUP BY ALL"


def _best(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall-clock and best CPU seconds (all threads) over ``repeat`` runs, and the result.

    CPU time is reported too because the benchmark machine is shared: wall clock there depends
    on the other processes, CPU time much less."""
    best_wall = best_cpu = float("inf")
    result = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), own_cpu()
        result = fn()
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, own_cpu() - c0)
    return best_wall, best_cpu, result


def _per_op(con) -> dict[tuple[str, str], int]:
    try:
        return {(s, o): t for s, o, t in con.execute(PER_OP_SQL).fetchall()}
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=16_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all)")
    args = parser.parse_args()

    spans = generate(args.traces, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = Path(tmp) / "dataset"
        # the write computes and stores every trace's critical path (and the other per-trace
        # results) once; its cost is reported beside the query's
        table = to_table(spans)
        write_t0, write_c0 = time.perf_counter(), own_cpu()
        write_spans(dataset, [table], source={"kind": "benchmark"})
        write_s, write_cpu = time.perf_counter() - write_t0, own_cpu() - write_c0
        live_s, live_cpu, live_per_op = _best(
            lambda: _per_op(connect(dataset, threads=args.threads, live=True)), 1
        )

        def query() -> dict[tuple[str, str], int]:
            return _per_op(connect(dataset, threads=args.threads))

        sql_s, sql_cpu, sql_per_op = _best(query, args.repeat)
        # the same query on a connection opened and used beforehand (views bound, files read)
        open_con = connect(dataset, threads=args.threads)
        open_s, open_cpu, _ = _best(lambda: open_con.execute(PER_OP_SQL).fetchall(), args.repeat)
        open_con.close()
        py_s, py_cpu, (py_per_op, py_per_trace) = _best(lambda: python_walk(spans), args.repeat)
        con = connect(dataset)
        sql_per_trace = dict(con.execute(PER_TRACE_SQL).fetchall())
        roots = dict(
            con.execute(
                "SELECT r.trace_id, s.duration_us FROM trace_roots AS r "
                "JOIN span_rows AS s USING (trace_id, span_id)"
            ).fetchall()
        )
        con.close()
    assert sql_per_op == py_per_op, "critical path per operation differs from the Python walk"
    assert live_per_op == py_per_op, "the walk computed at query time differs from the Python walk"
    assert sql_per_trace == py_per_trace, "critical path per trace differs from the Python walk"
    assert sql_per_trace == roots, "segments do not tile the root spans"
    print(f"spans: {len(spans):,}  traces: {args.traces:,}  (seed {args.seed})")
    print(f"critical_path view (stored results):       {sql_s:7.3f} s wall {sql_cpu:7.3f} s CPU")
    print(f"  the query alone, connection already open: {open_s:7.3f} s wall {open_cpu:7.3f} s CPU")
    print(f"pure-Python per-trace walk (in memory):    {py_s:7.3f} s wall {py_cpu:7.3f} s CPU")
    print(f"critical_path computed at query time:      {live_s:7.3f} s wall {live_cpu:7.3f} s CPU")
    print(
        f"writing the spans (per-trace results included): {write_s:.3f} s wall "
        f"{write_cpu:.3f} s CPU, once"
    )
    print(
        f"ratio: {py_s / sql_s:.1f}x wall, {py_cpu / sql_cpu:.1f}x CPU (query alone: "
        f"{py_s / open_s:.1f}x wall, {py_cpu / open_cpu:.1f}x CPU; {os.cpu_count()} cores, "
        f"DuckDB threads {args.threads or 'all'}, "
        f"load {os.getloadavg()[0]:.1f}); totals agree on {len(sql_per_op)} operations and "
        f"{len(sql_per_trace):,} traces"
    )


if __name__ == "__main__":
    main()
