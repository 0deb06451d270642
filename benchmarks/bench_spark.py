"""The analyses on Spark against DuckDB on one machine, at 10 and 50 days of spans (issue #19).

The datasets are those of the scale benchmark (benchmarks/bench_scale.py: the simulator's
baseline day written day after day with new ids and shifted dates). For each size:

- **DuckDB on one machine** (the named baseline): the dataset's own writes, which run the
  per-trace kernel as spans arrive (`write_spans`, a day at a time, in a fresh process), then
  one process computing every whole-data result a Spark run writes (the same queries over the
  dataset's stored results: latency, dependencies, capacity inputs, bottlenecks, lost messages,
  funnels);
- **Spark**: `tracekit spark-analyze` against a standalone cluster on this machine (a master and
  two workers of one core each, executors in their own JVMs: scripts/spark_cluster.py), from
  the spans alone: per-trace kernel, grouped views, cross-trace views, result set written.

Time is wall time; memory the peak of the summed PSS (and RSS) of every process involved,
sampled every 100 ms (for Spark: the command's driver and the cluster's daemons, executors and
Python workers). Per-core throughput is spans per second per core the work had (Spark's trace
stage: 2 executor cores; the writes: DuckDB's 2 threads).

    .venv/bin/python benchmarks/bench_spark.py [--days 10 50] [--workdir DIR]
        [--worker-memory 4g] [--task-memory 1GB] [--memory-limit 4GB]

Prints Markdown (paste under "## Spark" in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_scale import baseline_day  # noqa: E402
from measure import machine, measure, tree_usage  # noqa: E402

from tracekit.dataset import read_manifest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CORES = 2  # executors: two workers of one core; DuckDB: the machine's two cores

GROW = """
import sys
sys.path.insert(0, sys.argv[1])
from bench_scale import baseline_day, grow
from pathlib import Path
grow(Path(sys.argv[2]), baseline_day(Path(sys.argv[3])), int(sys.argv[4]))
"""

# Every whole-data result a Spark run writes, by DuckDB over the dataset's stored results.
WHOLE_DATA = """
import sys, time, tracekit
from tracekit.spark.cross_trace_stage import cross_trace_results
from tracekit.spark.group_stage import grouped_results
from tracekit.spark.options import AnalyzeOptions
options = AnalyzeOptions()
con = tracekit.connect(sys.argv[1], memory_limit=sys.argv[2])
for result in [*grouped_results(options), *cross_trace_results(options)]:
    started = time.perf_counter()
    try:
        rows = con.sql(result.query, params=result.params or None).to_arrow_table().num_rows
    except Exception as error:
        rows = f"not computed: {str(error).splitlines()[0][:80]}"
    print(result.name, rows, round(time.perf_counter() - started, 2), flush=True)
"""


class TreeSampler:
    """Peak summed RSS and PSS (MB) of the process trees under ``roots``, and the CPU seconds
    their processes used while sampled, from /proc every 100 ms on a thread (as
    benchmarks/measure.py does for one command; the cluster's daemons are not our children, so
    getrusage cannot count them)."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.peak_rss = self.peak_pss = 0.0
        self._start_ticks: dict[int, int] = {}
        self._ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def add(self, pid: int) -> None:
        self.roots.append(pid)

    @property
    def cpu_seconds(self) -> float:
        """CPU the trees' processes used since sampling began (a daemon's earlier use left
        out; a process that ended between two samples loses at most its last 100 ms)."""
        used = sum(ticks - self._start_ticks.get(pid, 0) for pid, ticks in self._ticks.items())
        return used / os.sysconf("SC_CLK_TCK")

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            rss, pss, ticks = tree_usage(self.roots)
            self.peak_rss = max(self.peak_rss, rss / 1024)
            self.peak_pss = max(self.peak_pss, pss / 1024)
            if first:
                self._start_ticks = dict(ticks)
                first = False
            self._ticks.update(ticks)
            time.sleep(0.1)


def spark_run(
    cluster: object, dataset: Path, out: Path, *, task_memory: str, memory_limit: str
) -> dict:
    """``tracekit spark-analyze`` on the cluster: wall time, peak memory, the run's stats."""
    conf = [f"--conf={key}={value}" for key, value in cluster.driver_conf().items()]  # type: ignore[attr-defined]
    command = [
        sys.executable,
        "-m",
        "tracekit",
        "spark-analyze",
        str(dataset),
        "--out",
        str(out),
        "--master",
        cluster.master_url,  # type: ignore[attr-defined]
        "--task-memory",
        task_memory,
        "--memory-limit",
        memory_limit,
        *conf,
    ]
    load = os.getloadavg()[0]
    with TreeSampler(list(cluster.pids)) as sampler:  # type: ignore[attr-defined]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sampler.add(process.pid)
        stdout, stderr = process.communicate()
        wall = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"spark-analyze failed: {stderr.decode()[-2000:]}")
    stats = json.loads((out / "results.json").read_text())["stats"]
    return {
        "wall": wall,
        "cpu": sampler.cpu_seconds,
        "peak_pss_mb": sampler.peak_pss,
        "peak_mb": sampler.peak_rss,
        "load": load,
        "stats": stats,
        "summary": stdout.decode().strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--worker-memory", default="4g")
    parser.add_argument("--task-memory", default="1GB")
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB's, on the driver/one machine")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "tracekit-bench-spark"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    dataset = args.workdir / "dataset"
    print(f"Machine: {machine()}.", flush=True)
    baseline_day(args.workdir)  # cached for the growing processes
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "spark_cluster", REPO / "scripts/spark_cluster.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    sys.modules["spark_cluster"] = script  # its dataclasses look their module up
    spec.loader.exec_module(script)
    results: dict[str, dict] = {}
    benchmarks = str(Path(__file__).resolve().parent)
    # each growth's measurement, kept beside the dataset (a rerun reuses both)
    growths_file = args.workdir / "growths.json"
    growths = json.loads(growths_file.read_text()) if growths_file.exists() else {}
    for days in sorted(args.days):
        if str(days) not in growths:
            print(f"growing to {days} days ...", file=sys.stderr, flush=True)
            command = [sys.executable, "-c", GROW, benchmarks, str(dataset), str(args.workdir)]
            growths[str(days)] = measure([*command, str(days)])
            growths_file.write_text(json.dumps(growths, indent=1))
        done = [growths[key] for key in growths if int(key) <= days]
        write_seconds = sum(growth["wall"] for growth in done)
        write_cpu = sum(growth["cpu"] for growth in done)
        write_peak = max(growth["peak_pss_mb"] for growth in done)
        spans = read_manifest(dataset).counts["spans"]
        print(f"  {days} days: {spans:,} spans; DuckDB whole-data results ...", file=sys.stderr)
        load = os.getloadavg()[0]
        duckdb = measure([sys.executable, "-c", WHOLE_DATA, str(dataset), args.memory_limit])
        duckdb["load"] = load
        print(f"  {days} days: Spark ...", file=sys.stderr, flush=True)
        cluster = script.start(
            Path(tempfile.mkdtemp(prefix="cluster-", dir=args.workdir)),
            workers=CORES,
            cores=1,
            memory=args.worker_memory,
        )
        try:
            spark = spark_run(
                cluster,
                dataset,
                args.workdir / f"results-{days}",
                task_memory=args.task_memory,
                memory_limit=args.memory_limit,
            )
        finally:
            script.stop(cluster)
        results[str(days)] = {
            "spans": spans,
            "writes": {"wall": write_seconds, "cpu": write_cpu, "peak_pss_mb": write_peak},
            "duckdb": duckdb,
            "spark": spark,
        }
        (args.workdir / "results.json").write_text(json.dumps(results, indent=1))
    print_tables(results)


def print_tables(results: dict[str, dict]) -> None:
    print()
    print(
        "| days (spans) | DuckDB: writes (per-trace work) | DuckDB: whole-data results "
        "| DuckDB total | Spark: `spark-analyze` | Spark stages: plan / traces / groups / "
        "cross-trace / commit |"
    )
    print("|---|---|---|---|---|---|")
    for days, entry in results.items():
        writes, duckdb, spark = entry["writes"], entry["duckdb"], entry["spark"]
        stages = spark["stats"]["seconds"]
        order = ("plan", "traces", "groups", "cross_trace", "commit")
        print(
            f"| {days} ({entry['spans'] / 1e6:.1f}M) "
            f"| {writes['wall']:.0f} s ({writes['cpu']:.0f} CPU s), "
            f"{writes['peak_pss_mb']:.0f} MB "
            f"| {duckdb['wall']:.0f} s ({duckdb['cpu']:.0f} CPU s), "
            f"{duckdb['peak_pss_mb']:.0f} MB; load {duckdb['load']:.1f} "
            f"| {writes['wall'] + duckdb['wall']:.0f} s ({writes['cpu'] + duckdb['cpu']:.0f} "
            f"CPU s) "
            f"| {spark['wall']:.0f} s ({spark['cpu']:.0f} CPU s), {spark['peak_pss_mb']:.0f} MB "
            f"PSS ({spark['peak_mb']:.0f} MB RSS); load {spark['load']:.1f} "
            f"| {' / '.join(f'{stages.get(name, 0):.0f}' for name in order)} s |"
        )
    print()
    print(
        "| days | DuckDB writes: spans per CPU s | DuckDB total: spans per CPU s "
        "| Spark: spans per CPU s | Spark trace stage: spans/s per core (wall x 2) "
        "| Spark trace stage: spans per task-second |"
    )
    print("|---|---|---|---|---|---|")
    for days, entry in results.items():
        spans = entry["spans"]
        writes, duckdb, spark = entry["writes"], entry["duckdb"], entry["spark"]
        stats = spark["stats"]
        print(
            f"| {days} | {spans / writes['cpu']:,.0f} "
            f"| {spans / (writes['cpu'] + duckdb['cpu']):,.0f} "
            f"| {spans / spark['cpu']:,.0f} "
            f"| {spans / stats['seconds']['traces'] / CORES:,.0f} "
            f"| {spans / stats['task_seconds']:,.0f} |"
        )


if __name__ == "__main__":
    main()
