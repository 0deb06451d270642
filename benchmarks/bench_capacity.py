"""Capacity forecast over a simulated week of traces, with pandas as the baseline for the windows.

Run: ``.venv/bin/python benchmarks/bench_capacity.py [--data DIR] [--days 7] [--write]``.

The week is the `baseline` scenario simulated by ``tracekit.simulate`` (seed 1, starting Monday
2026-01-05 00:00 UTC) and written as a tracekit dataset; ``--data`` keeps it between runs.

Timed, wall-clock seconds, each on a fresh connection:
- ``window_metrics()``: per service and 5-minute window arrivals, service and self time, waits,
  Little's-law concurrency, per-instance overlap, workers (DuckDB SQL in tracekit/sql/capacity).
- the baseline: the same metrics with pandas from the same Parquet columns (merges for the
  caller's client span and the producer, a groupby cummax for the union of children's
  intervals, a sorted cumulative sum per instance for the overlap). The script checks the two
  agree before printing the ratio.
- ``capacity_plan()`` end to end: windows, trace replay at multipliers 1, 2, 5 and 10 with a p95
  target (workers needed), saturation multipliers by bisection, model fit, USL.
``--write`` puts the results under "## Capacity" in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracekit.capacity import capacity_plan, window_metrics  # noqa: E402
from tracekit.connect import connect  # noqa: E402
from tracekit.dataset import dataset_files, read_manifest, write_spans  # noqa: E402
from tracekit.simulate import simulate  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WINDOW_S = 300


def make_week(path: Path, days: float) -> None:
    manifest = read_manifest(path)
    want = {"kind": "simulate", "scenario": "baseline", "seed": 1, "duration_s": days * 86400}
    sources = [source.to_json() for source in manifest.sources]
    if any(all(src.get(k) == v for k, v in want.items()) for src in sources):
        return
    started = time.perf_counter()
    result = simulate(
        "baseline", duration_s=days * 86400, load=1.0, seed=1, start="2026-01-05T00:00:00Z"
    )
    write_spans(path, result.batches, source=result.source())
    print(f"simulated {days:g} days in {time.perf_counter() - started:.1f}s", flush=True)


def pandas_windows(files: list[str]) -> pd.DataFrame:
    """The window metrics of tracekit/sql/capacity, computed with pandas."""
    columns = [
        "trace_id",
        "span_id",
        "parent_span_id",
        "service",
        "kind",
        "start_time",
        "end_time",
        "duration_us",
        "resource",
        "links",
    ]
    spans = pd.concat([pd.read_parquet(f, columns=columns) for f in files], ignore_index=True)
    spans["start_us"] = spans["start_time"].astype("int64")
    spans["end_us"] = spans["end_time"].astype("int64")
    unit = np.datetime_data(spans["start_time"].dtype)[0]
    if unit != "us":  # pandas may read ns or us
        scale = {"ns": 1000, "ms": 1 / 1000, "s": 1 / 1_000_000}[unit]
        spans["start_us"] = (spans["start_us"] // scale).astype("int64")
        spans["end_us"] = (spans["end_us"] // scale).astype("int64")
    # self time: union of children's intervals clipped to the parent
    kids = spans[["trace_id", "parent_span_id", "start_us", "end_us"]].dropna()
    kids = kids.merge(
        spans[["trace_id", "span_id", "start_us", "end_us"]],
        left_on=["trace_id", "parent_span_id"],
        right_on=["trace_id", "span_id"],
        suffixes=("", "_p"),
    )
    kids["lo"] = kids[["start_us", "start_us_p"]].max(axis=1)
    kids["hi"] = kids[["end_us", "end_us_p"]].min(axis=1)
    kids = kids[kids["hi"] > kids["lo"]].sort_values(["trace_id", "span_id", "lo", "hi"])
    key = ["trace_id", "span_id"]
    reach = kids.groupby(key)["hi"].cummax()
    before = reach.groupby([kids["trace_id"], kids["span_id"]]).shift()
    kids["island"] = (before.isna() | (kids["lo"] > before)).astype(int)
    kids["island"] = kids.groupby(key)["island"].cumsum()
    islands = kids.groupby([*key, "island"]).agg(lo=("lo", "min"), hi=("hi", "max"))
    covered = (islands["hi"] - islands["lo"]).groupby(level=[0, 1]).sum().rename("covered")
    work = spans[spans["kind"].isin(["server", "consumer"])].copy()
    work = work.merge(covered, left_on=key, right_index=True, how="left")
    work["self_us"] = work["duration_us"] - work["covered"].fillna(0)
    work["instance"] = [dict(r).get("service.instance.id") for r in work["resource"]]
    work["instance"] = work["instance"].fillna(work["service"])
    clients = spans.loc[spans["kind"] == "client", ["trace_id", "span_id", "duration_us"]]
    work = work.merge(
        clients.rename(columns={"span_id": "parent_span_id", "duration_us": "client_us"}),
        on=["trace_id", "parent_span_id"],
        how="left",
    )
    link = [ls[0] if len(ls) else None for ls in work["links"]]
    work["link_trace"] = [x["trace_id"] if x else None for x in link]
    work["link_span"] = [x["span_id"] if x else None for x in link]
    producers = spans.loc[spans["kind"] == "producer", ["trace_id", "span_id", "end_us"]]
    work = work.merge(
        producers.rename(
            columns={"trace_id": "link_trace", "span_id": "link_span", "end_us": "producer_end"}
        ),
        on=["link_trace", "link_span"],
        how="left",
    )
    work["gap_us"] = np.where(
        work["client_us"].notna(),
        (work["client_us"] - work["duration_us"]).clip(lower=0),
        (work["start_us"] - work["producer_end"]).clip(lower=0),
    )
    window_us = WINDOW_S * 1_000_000
    work["window"] = work["start_us"] // window_us * window_us
    grouped = work.groupby(["service", "window"])
    frame = grouped.agg(
        arrivals=("span_id", "size"),
        mean_service_us=("duration_us", "mean"),
        mean_self_us=("self_us", "mean"),
        mean_wait_us=("gap_us", "mean"),
        busy_us=("duration_us", "sum"),
    )
    frame["p95_service_us"] = grouped["duration_us"].quantile(0.95)
    frame["concurrency"] = frame["busy_us"] / window_us
    # overlap per instance: running count of open spans, ends before starts at equal times
    events = pd.concat(
        [
            pd.DataFrame(
                {
                    "service": work["service"],
                    "instance": work["instance"],
                    "at": work["start_us"],
                    "step": 1,
                }
            ),
            pd.DataFrame(
                {
                    "service": work["service"],
                    "instance": work["instance"],
                    "at": work["start_us"] + work["duration_us"],
                    "step": -1,
                }
            ),
        ]
    ).sort_values(["service", "instance", "at", "step"], kind="stable")
    events["open"] = events.groupby(["service", "instance"])["step"].cumsum()
    starts = events[events["step"] == 1].copy()
    starts["window"] = starts["at"] // window_us * window_us
    per_instance = starts.groupby(["service", "instance", "window"])["open"].max()
    workers = per_instance.groupby(level=[0, 1]).max().groupby(level=0).sum()
    frame["max_overlap"] = per_instance.groupby(level=[0, 2]).sum()
    frame = frame.reset_index()
    frame["workers"] = frame["service"].map(workers)
    frame["utilization"] = frame["concurrency"] / frame["workers"]
    return frame


def timed(label: str, func, results: dict) -> object:
    started = time.perf_counter()
    value = func()
    results[label] = time.perf_counter() - started
    print(f"{label}: {results[label]:.2f}s", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", help="dataset folder to create or reuse")
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    holder = tempfile.TemporaryDirectory() if not args.data else None
    path = Path(args.data) if args.data else Path(holder.name) / "week"  # type: ignore[union-attr]
    make_week(path, args.days)
    manifest = read_manifest(path)
    spans = manifest.counts["spans"]
    results: dict[str, float] = {}
    sql = timed(
        "window_metrics (DuckDB SQL)",
        lambda: window_metrics(connect(path), window_s=WINDOW_S),
        results,
    )
    baseline = timed(
        "window metrics (pandas baseline)", lambda: pandas_windows(dataset_files(path)), results
    )
    check(sql, baseline)
    plan = timed(
        "capacity_plan, 4 multipliers + p95 target",
        lambda: capacity_plan(connect(path), [1, 2, 5, 10], slo_p95_ms=10_000),
        results,
    )
    ratio = results["window metrics (pandas baseline)"] / results["window_metrics (DuckDB SQL)"]
    load = os.getloadavg()[0]
    lines = [
        "## Capacity",
        "",
        f"`benchmarks/bench_capacity.py`: the `baseline` scenario simulated for {args.days:g} "
        f"days ({spans:,} spans, {len(sql):,} service-windows of 5 minutes), "
        f"{os.cpu_count()} cores shared with other work (load average {load:.1f} at the end "
        "of the run), wall-clock seconds.",
        "",
        "| step | seconds |",
        "|---|---|",
        *[f"| {label} | {secs:.2f} |" for label, secs in results.items()],
        "",
        f"Window metrics: DuckDB SQL is {ratio:.1f}x faster than the same metrics in pandas "
        "(checked equal before timing is reported; the SQL also groups each span's calls "
        "into islands for the replay, which the baseline skips). The whole forecast "
        f"(windows, replay of {len(plan.table) // 4} components' spans at 4 multipliers, "
        "saturation bisection, workers for the p95 target, model fit) takes "
        f"{results['capacity_plan, 4 multipliers + p95 target']:.1f}s; "
        f"first to saturate: {plan.first_to_saturate}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    print(json.dumps(results))
    if args.write:
        write_section(REPO / "docs" / "benchmarks.md", text)


def check(sql: pd.DataFrame, baseline: pd.DataFrame) -> None:
    left = sql.set_index(["service", "window_start"]).sort_index()
    right = baseline.copy()
    right["window_start"] = pd.to_datetime(right["window"], unit="us")
    right = right.set_index(["service", "window_start"]).sort_index()
    assert len(left) == len(right), (len(left), len(right))
    assert (left["arrivals"].to_numpy() == right["arrivals"].to_numpy()).all()
    for mine, theirs, scale in (
        ("mean_service_ms", "mean_service_us", 1000),
        ("mean_self_ms", "mean_self_us", 1000),
        ("mean_wait_ms", "mean_wait_us", 1000),
        ("concurrency", "concurrency", 1),
        ("max_overlap", "max_overlap", 1),
        ("workers", "workers", 1),
    ):
        a = left[mine].to_numpy(dtype=float)
        b = right[theirs].to_numpy(dtype=float) / scale
        assert np.allclose(a, b, rtol=1e-6, equal_nan=True), mine


def write_section(doc: Path, text: str) -> None:
    """Replace (or append) the "## Capacity" section, leaving everyone else's untouched."""
    current = doc.read_text() if doc.exists() else "# Benchmarks\n"
    lines = current.splitlines()
    try:
        start = lines.index("## Capacity")
    except ValueError:
        doc.write_text(current.rstrip("\n") + "\n\n" + text)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    doc.write_text(
        "\n".join(lines[:start] + text.rstrip("\n").splitlines() + [""] + lines[end:]).rstrip("\n")
        + "\n"
    )


if __name__ == "__main__":
    main()
