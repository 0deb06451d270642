"""Months of traces on one machine: every view and report at 1, 10, 50 and 100 days of spans.

The dataset is the simulator's `baseline` day (seed 1, ~212k spans) written day after day with
new trace ids and shifted dates, each day by its own `write_spans` (so the per-trace results are
computed and stored as any write does). Message ids are kept: every replayed day reuses the
baseline day's ids, as an application that numbers its messages per day would, and matching by
id must take that in stride (each consumer takes the send of its id last before it). At each
checkpoint every view is queried with `tracekit sql` in a fresh process (wall time and the peak
RSS/PSS of the process tree), and each report is run with `tracekit report`. The named baseline,
in the same run, is the same query with the views computed from the spans at query time
(`tracekit.connect(live=True)`: what tracekit did before per-trace results were stored), at the
checkpoints up to `--live-days`.

    .venv/bin/python benchmarks/bench_scale.py [--days 1 10 50 100] [--live-days 10]
        [--reports 1 10 50] [--workdir DIR] [--memory-limit 8GB] [--budget 1536MB]

Prints Markdown tables (paste them under "## Scale" in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import machine, measure  # noqa: E402

from tracekit.dataset import read_manifest, write_spans  # noqa: E402
from tracekit.schema import EVENT, LINK, SPAN_SCHEMA  # noqa: E402

START = "2026-01-05T00:00:00Z"
WORKSHOP = "['shop-api', 'mes-api', 'mes', 'order-queue', 'crm']"
# One query per view (or macro), reading what a user of that view reads.
QUERIES = {
    "span_rows": "SELECT count(*) FROM span_rows",
    "spans": "SELECT count(*) FROM spans",
    "spans self_us": "SELECT sum(self_us) FROM spans",
    "traces": "SELECT count(*), avg(duration_us) FROM traces",
    "critical_path": "SELECT count(*), sum(duration_us) FROM critical_path",
    "critical_path_by_operation": "SELECT * FROM critical_path_by_operation()",
    "bottlenecks": "SELECT * FROM bottlenecks",
    "bottleneck_operations": "SELECT * FROM bottleneck_operations",
    "slow_attributes": "SELECT * FROM slow_attributes() LIMIT 20",
    "dependencies": "SELECT * FROM dependencies",
    "latency_by_service": "SELECT * FROM latency_by_service",
    "latency_by_operation": "SELECT * FROM latency_by_operation",
    "errors_by_service": "SELECT * FROM errors_by_service",
    "error_origins": "SELECT count(*) FROM error_origins",
    "n_plus_one_summary": "SELECT * FROM n_plus_one_summary",
    "telemetry_loss": "SELECT kind, count(*) FROM telemetry_loss GROUP BY ALL",
    "lost_messages": "SELECT count(*) FROM lost_messages",
    "funnel": f"SELECT * FROM funnel({WORKSHOP})",
}
REPORTS = ("explore", "bottlenecks", "order_loss", "capacity")
REPORT_TIMEOUT_S = 3600

LIVE_QUERY = """
import sys, tracekit
con = tracekit.connect(sys.argv[1], live=True, memory_limit=sys.argv[3])
con.sql(sys.argv[2]).fetchall()
"""


def baseline_day(workdir: Path) -> pa.Table:
    """The simulator's baseline day (cached as Arrow IPC in ``workdir``)."""
    path = workdir / "baseline-day.arrow"
    if not path.exists():
        from tracekit.simulate import simulate

        result = simulate("baseline", duration_s=86400, seed=1, start=START)
        table = pa.Table.from_batches(result.batches).select(SPAN_SCHEMA.names)
        with pa.ipc.new_file(str(path), table.schema) as sink:
            sink.write_table(table)
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def shifted(day: pa.Table, offset: int) -> pa.Table:
    """``day`` as day number ``offset`` after it: new trace ids (the first four hex digits
    replaced by the day number, in links too) and every time shifted by ``offset`` days."""
    delta = pa.scalar(dt.timedelta(days=offset), pa.duration("us"))

    def new_ids(ids: pa.Array) -> pa.Array:
        prefix = pa.array(np.full(len(ids), f"{offset:04x}"), pa.string())
        return pc.binary_join_element_wise(prefix, pc.utf8_slice_codeunits(ids, 4), "")

    def shift(times: pa.Array) -> pa.Array:
        return pc.add(times, delta)

    columns = {name: day[name].combine_chunks() for name in day.column_names}
    columns["trace_id"] = new_ids(columns["trace_id"])
    columns["start_time"] = shift(columns["start_time"])
    columns["end_time"] = shift(columns["end_time"])
    links = columns["links"]
    link_values = links.values
    link_trace, link_span, link_kind = link_values.flatten()
    columns["links"] = pa.ListArray.from_arrays(
        links.offsets,
        pa.StructArray.from_arrays([new_ids(link_trace), link_span, link_kind], fields=list(LINK)),
        mask=links.is_null(),
    )
    events = columns["events"]
    event_time, event_name, event_attributes = events.values.flatten()
    columns["events"] = pa.ListArray.from_arrays(
        events.offsets,
        pa.StructArray.from_arrays(
            [shift(event_time), event_name, event_attributes], fields=list(EVENT)
        ),
        mask=events.is_null(),
    )
    return pa.table(columns, schema=SPAN_SCHEMA)


def grow(dataset: Path, day: pa.Table, days: int) -> list[float]:
    """Write days until the dataset holds ``days`` of them; the seconds each write took."""
    have = len([s for s in read_manifest(dataset).sources if s.kind == "bench-day"])
    seconds = []
    for offset in range(have, days):
        started = time.perf_counter()
        write_spans(dataset, [shifted(day, offset)], source={"kind": "bench-day", "day": offset})
        seconds.append(time.perf_counter() - started)
        print(f"  day {offset + 1}: written in {seconds[-1]:.1f} s", file=sys.stderr, flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[1, 10, 50, 100])
    parser.add_argument("--live-days", type=int, default=10, help="baseline up to this size")
    parser.add_argument("--reports", type=int, nargs="*", default=[1, 10, 50])
    parser.add_argument(
        "--report-names", nargs="*", default=list(REPORTS), help="which reports to run"
    )
    parser.add_argument("--memory-limit", default="8GB", help="for the live baseline")
    parser.add_argument(
        "--budget",
        help="TRACEKIT_MEMORY_LIMIT for every query and report (default: tracekit's own, half "
        "the machine); results then go to results-budget-BUDGET.json",
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "tracekit-bench-scale"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    dataset = args.workdir / "dataset"
    results_file = args.workdir / "results.json"
    results: dict[str, dict] = {}
    if args.budget:
        os.environ["TRACEKIT_MEMORY_LIMIT"] = args.budget
        results_file = args.workdir / f"results-budget-{args.budget}.json"
    if results_file.exists():  # a rerun at other checkpoints adds to what was measured
        results = json.loads(results_file.read_text())
    print(f"Machine: {machine()}.", flush=True)
    print(f"Memory budget of every query and report: {args.budget or 'the default'}.", flush=True)
    day = baseline_day(args.workdir)
    tracekit = [sys.executable, "-m", "tracekit"]
    writes: list[float] = []
    for days in sorted(args.days):
        have = len([s for s in read_manifest(dataset).sources if s.kind == "bench-day"])
        if have > days:  # the dataset only grows: a smaller checkpoint keeps its earlier figures
            print(f"skipping {days} days: the dataset holds {have}", file=sys.stderr, flush=True)
            continue
        print(f"growing to {days} days ...", file=sys.stderr, flush=True)
        writes += grow(dataset, day, days)
        spans = read_manifest(dataset).counts["spans"]
        entry: dict = {"spans": spans, "queries": {}, "live": {}, "reports": {}}
        entry["load"] = os.getloadavg()[0]  # a shared machine: the figures' context
        for name, query in QUERIES.items():
            # within a budget a query may fail (exit 2, one line naming the limit): recorded
            entry["queries"][name] = measure(
                [*tracekit, "sql", str(dataset), query], check=not args.budget
            )
            if days <= args.live_days:
                live = [sys.executable, "-c", LIVE_QUERY, str(dataset), query, args.memory_limit]
                entry["live"][name] = measure(live, check=False)
            print(f"  {days} days: {name}", file=sys.stderr, flush=True)
        if days in args.reports:
            for report in args.report_names:
                out = args.workdir / "reports"
                command = [*tracekit, "report", report, "--data", str(dataset), "--out", str(out)]
                entry["reports"][report] = measure(
                    ["timeout", str(REPORT_TIMEOUT_S), *command], check=False
                )
                print(f"  {days} days: report {report}", file=sys.stderr, flush=True)
        results[str(days)] = entry
        results_file.write_text(json.dumps(results, indent=1))
    print_tables(results, writes, day.num_rows)


def print_tables(results: dict[str, dict], writes: list[float], day_spans: int) -> None:
    sizes = list(results)
    first = sizes[0]
    print()
    print(
        "| query | "
        + " | ".join(f"{size} d ({results[size]['spans'] / 1e6:.1f}M spans)" for size in sizes)
        + " | growth (time / data, last vs first) |"
    )
    print("|---|" + "---|" * (len(sizes) + 1))
    for name in QUERIES:
        cells = []
        for size in sizes:
            run = results[size]["queries"][name]
            cell = f"{run['wall']:.2f} s ({run['cpu']:.2f} CPU-s), {run['peak_mb']:.0f} MB"
            if run.get("rc"):
                cell = f"failed (exit {run['rc']}) after {run['wall']:.1f} s"
            live = results[size]["live"].get(name)
            if live is not None:
                cell += (
                    f" (live {live['wall']:.1f} s, {live['peak_mb']:.0f} MB)"
                    if not live["rc"]
                    else " (live failed)"
                )
            cells.append(cell)
        last = results[sizes[-1]]
        data = last["spans"] / results[first]["spans"]
        growth = last["queries"][name]["wall"] / results[first]["queries"][name]["wall"] / data
        print(f"| `{name}` | " + " | ".join(cells) + f" | {growth:.2f} |")
    loads = ", ".join(f"{size} d {results[size].get('load', float('nan')):.1f}" for size in sizes)
    print(f"\nLoad average (1 min) when each checkpoint began: {loads}.")
    reported = [size for size in sizes if results[size]["reports"]]
    if reported:
        print()
        print("| report | " + " | ".join(f"{size} d" for size in reported) + " |")
        print("|---|" + "---|" * len(reported))
        for report in REPORTS:
            cells = []
            for size in reported:
                run = results[size]["reports"].get(report)
                if run is None:
                    cells.append("-")
                elif run["rc"]:
                    cells.append(f"failed (exit {run['rc']}) after {run['wall']:.0f} s")
                else:
                    cells.append(f"{run['wall']:.1f} s, {run['peak_mb']:.0f} MB")
            print(f"| {report} | " + " | ".join(cells) + " |")
    if writes:
        print()
        print(
            f"Writing a day ({day_spans:,} spans, per-trace results included): "
            f"median {np.median(writes):.1f} s, first {writes[0]:.1f} s, last {writes[-1]:.1f} s."
        )


if __name__ == "__main__":
    main()
