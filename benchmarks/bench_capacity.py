"""Capacity forecast over a simulated week of traces, with pandas as the baseline for the windows.

Run: ``.venv/bin/python benchmarks/bench_capacity.py [--data DIR] [--days 7] [--write]``.

The week is the `baseline` scenario simulated by ``tracekit.simulate`` (seed 1, starting Monday
2026-01-05 00:00 UTC) and written as a tracekit dataset; ``--data`` keeps it between runs.

Timed, wall-clock seconds, each on a fresh connection:
- ``window_metrics()``: per component and 5-minute window arrivals, service and self time,
  waits, concurrency over the covered time, per-instance overlap, inferred workers (DuckDB SQL
  in tracekit/sql/capacity, message waits from the `message_waits` view, limits in numpy).
- the baseline: the same metrics with pandas from the same Parquet columns (merges for the
  caller's client span and the message's send span, the covered time from the traces' extents,
  a sorted cumulative sum per instance for the overlap). The script checks the two agree before
  printing the ratio.
- ``capacity_plan()`` end to end: windows, limits, trace replay at multipliers 1, 2, 5 and 10
  with a p95 target (workers needed), saturation multipliers by regula falsi, model fit, USL.
``--write`` puts the results under "## Capacity" in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
    """The window metrics of tracekit/sql/capacity, computed with pandas from the same Parquet
    columns (the stored self_us included): arrivals at the caller's client span start or the
    message's publication (the end of the send span a consumer hangs under or links to), rates
    and concurrency over the seconds of each window the data covers, the most in service at
    once per instance (overlaps under 1 ms are handoffs)."""
    columns = [
        "trace_id",
        "span_id",
        "parent_span_id",
        "service",
        "kind",
        "start_time",
        "end_time",
        "duration_us",
        "self_us",
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
    work = spans[spans["kind"].isin(["server", "consumer"])].copy()
    work["instance"] = [dict(r).get("service.instance.id") for r in work["resource"]]
    work["instance"] = work["instance"].fillna(work["service"])
    clients = spans.loc[
        spans["kind"] == "client", ["trace_id", "span_id", "start_us", "duration_us"]
    ]
    work = work.merge(
        clients.rename(
            columns={
                "span_id": "parent_span_id",
                "duration_us": "client_us",
                "start_us": "client_start",
            }
        ),
        on=["trace_id", "parent_span_id"],
        how="left",
    )
    link = [ls[0] if len(ls) else None for ls in work["links"]]
    work["link_trace"] = [x["trace_id"] if x else None for x in link]
    work["link_span"] = [x["span_id"] if x else None for x in link]
    producers = spans.loc[spans["kind"] == "producer", ["trace_id", "span_id", "end_us"]]
    by_parent = work.merge(
        producers.rename(columns={"span_id": "parent_span_id", "end_us": "parent_end"}),
        on=["trace_id", "parent_span_id"],
        how="left",
    )["parent_end"]
    by_link = work.merge(
        producers.rename(
            columns={"trace_id": "link_trace", "span_id": "link_span", "end_us": "link_end"}
        ),
        on=["link_trace", "link_span"],
        how="left",
    )["link_end"]
    consumer = work["kind"] == "consumer"
    published = by_parent.where(by_parent.notna(), by_link).where(consumer)
    work["gap_us"] = np.where(
        work["client_us"].notna(),
        (work["client_us"] - work["duration_us"]).clip(lower=0),
        (work["start_us"] - published).clip(lower=0),
    )
    work["arrival_us"] = np.where(
        work["client_start"].notna(),
        np.minimum(work["client_start"], work["start_us"]),
        np.where(published.notna(), np.minimum(published, work["start_us"]), work["start_us"]),
    ).astype("int64")
    window_us = WINDOW_S * 1_000_000
    origin = 946_857_600_000_000  # time_bucket's origin, 2000-01-03
    work["window"] = (work["arrival_us"] - origin) // window_us * window_us + origin
    grouped = work.groupby(["service", "window"])
    frame = grouped.agg(
        arrivals=("span_id", "size"),
        mean_service_us=("duration_us", "mean"),
        mean_self_us=("self_us", "mean"),
        mean_wait_us=("gap_us", "mean"),
        busy_us=("duration_us", "sum"),
    )
    # the time the data covers: traces' extents, joined unless nothing ran for a window
    extents = spans.groupby("trace_id").agg(lo=("start_us", "min"), hi=("end_us", "max"))
    extents = extents.sort_values("lo")
    reach = np.maximum.accumulate(extents["hi"].to_numpy())
    lows = extents["lo"].to_numpy()
    breaks = np.flatnonzero(lows[1:] > reach[:-1] + window_us) + 1
    first = np.concatenate(([0], breaks))
    last = np.concatenate((breaks - 1, [lows.size - 1]))
    stretches = list(zip(lows[first], reach[last], strict=True))
    starts = frame.index.get_level_values("window").to_numpy()
    covered = np.zeros(starts.size)
    for low, high in stretches:
        covered += np.clip(np.minimum(starts + window_us, high) - np.maximum(starts, low), 0, None)
    frame["concurrency"] = frame["busy_us"].to_numpy() / covered
    ends = work["start_us"] + work["duration_us"]
    released = np.maximum(ends - np.minimum(1000, work["duration_us"] // 2), work["start_us"])
    events = pd.concat(
        [
            pd.DataFrame(
                {"service": work["service"], "instance": work["instance"],
                 "at": work["start_us"], "step": 1}
            ),
            pd.DataFrame(
                {"service": work["service"], "instance": work["instance"],
                 "at": released, "step": -1}
            ),
        ]
    ).sort_values(["service", "instance", "at", "step"], kind="stable")  # fmt: skip
    events["open"] = events.groupby(["service", "instance"])["step"].cumsum()
    opened = events[events["step"] == 1].copy()
    opened["window"] = (opened["at"] - origin) // window_us * window_us + origin
    per_instance = opened.groupby(["service", "instance", "window"])["open"].max()
    workers = per_instance.groupby(level=[0, 1]).max().groupby(level=0).sum()
    frame["max_overlap"] = per_instance.groupby(level=[0, 2]).sum()
    frame = frame.reset_index()
    frame["workers"] = frame["service"].map(workers)
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
        "(checked equal before timing is reported; the SQL also matches messages through "
        "`message_waits`, finds leaf components and groups each span's calls into islands for "
        "the replay, and window_metrics infers the limits, which the baseline skips). The "
        f"whole forecast (windows, limits, replay of {len(plan.table) // 4} components' spans "
        "at 4 multipliers, saturation search, workers for the p95 target, model fit) takes "
        f"{results['capacity_plan, 4 multipliers + p95 target']:.1f}s; "
        f"first to saturate: {plan.first_to_saturate}. Peak memory of the whole run "
        f"(simulation included): {peak_mb():,.0f} MB.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    print(json.dumps(results))
    if args.write:
        write_section(REPO / "docs" / "benchmarks.md", text)


def peak_mb() -> float:
    """The process's peak resident memory (ru_maxrss is in KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def check(sql: pd.DataFrame, baseline: pd.DataFrame) -> None:
    left = sql.set_index(["service", "window_start"]).sort_index()
    right = baseline.copy()
    right["window_start"] = pd.to_datetime(right["window"], unit="us")
    right = right.set_index(["service", "window_start"]).sort_index()
    assert len(left) == len(right), (len(left), len(right))
    # workers: the inferred limit where one was found, else the most seen at once
    seen = left["workers_source"] == "none seen"
    assert (left.loc[seen, "workers"] == right.loc[seen, "workers"]).all()
    assert (left["arrivals"].to_numpy() == right["arrivals"].to_numpy()).all()
    for mine, theirs, scale in (
        ("mean_service_ms", "mean_service_us", 1000),
        ("mean_self_ms", "mean_self_us", 1000),
        ("mean_wait_ms", "mean_wait_us", 1000),
        ("concurrency", "concurrency", 1),
        ("max_overlap", "max_overlap", 1),
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
