"""Import benchmark: `tracekit import` against the naive script an analyst writes first.

Generates seeded Jaeger /api/traces responses (1000 traces of 8 spans per file, with typed tags,
logs and references; benchmarks/jaeger_gen.py), then imports the first SMALL files and all FILES
files with `tracekit import` (its default workers, and `--jobs 1`) and
benchmarks/naive_import.py (json.load, a Python loop building dicts,
pandas.DataFrame(...).to_parquet). Each run is a fresh subprocess; its wall time,
CPU time and peak memory (summed RSS and summed PSS of its process tree) come from a tiny
wrapper process.

    .venv/bin/python benchmarks/bench_import.py [--files 60] [--small 15] [--workdir DIR]

Prints a Markdown table (paste it under "## Import" in docs/benchmarks.md) with the time ratio
(naive / tracekit), the peak-memory ratio (tracekit / naive) and memory flatness (tracekit's
peak at FILES files / at SMALL files).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from jaeger_gen import write_responses  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# Runs a command and reports its usage: CPU from getrusage(RUSAGE_CHILDREN) (worker processes
# are waited for by the command, so their time is included) and the peaks of the summed RSS and
# of the summed PSS of the whole process tree, sampled every 50 ms from /proc (ru_maxrss alone
# would give only the largest single process). PSS (proportional set size) counts a page shared by
# n processes as 1/n in each: summed RSS counts the libraries that worker processes all map (about
# 80 MB of pyarrow, numpy, pandas) once per process, PSS once in all.
WRAPPER = """
import json, os, resource, subprocess, sys, time

def tree_rss(root):
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as handle:
                    parents[int(name)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    rss = pss = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss

start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = peak_pss = 0
while child.poll() is None:
    rss, pss = tree_rss(child.pid)
    peak, peak_pss = max(peak, rss), max(peak_pss, pss)
    time.sleep(0.05)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": child.returncode, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "peak_mb": max(peak, usage.ru_maxrss) / 1024,
                  "peak_pss_mb": max(peak_pss, 1) / 1024}))
"""


def measure(command: list[str]) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak RSS and PSS (MB) of one command in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], check=True, capture_output=True, text=True
    )
    result = json.loads(out.stdout)
    if result["rc"]:
        raise SystemExit(f"command failed ({result['rc']}): {' '.join(command[:4])} ...")
    return result


def machine() -> str:
    """One line describing the machine the figures come from."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; load average at start "
        f"{load:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--small", type=int, default=15)
    parser.add_argument("--traces", type=int, default=1000, help="traces per file")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "tracekit-bench-import"
    )
    args = parser.parse_args()

    inputs = args.workdir / f"in-{args.files}x{args.traces}"
    marker = inputs / ".complete"
    if not marker.exists():
        shutil.rmtree(inputs, ignore_errors=True)
        print(
            f"generating {args.files} files of {args.traces} traces in {inputs} ...",
            file=sys.stderr,
        )
        write_responses(inputs, args.files, args.traces, seed=7)
        marker.touch()
    files = sorted(str(path) for path in inputs.glob("traces-*.json"))
    size_mb = sum(os.path.getsize(path) for path in files) / 2**20
    spans = args.files * args.traces * 8

    tracekit = [sys.executable, "-m", "tracekit", "import"]
    naive = [sys.executable, str(REPO / "benchmarks" / "naive_import.py")]
    convert = [sys.executable, str(REPO / "benchmarks" / "convert_only.py")]
    results: dict[tuple[str, int], dict[str, float]] = {}
    for count in (args.small, args.files):
        chosen = files[:count]
        out = args.workdir / "out"
        shutil.rmtree(out, ignore_errors=True)
        print(f"tracekit import, {count} files ...", file=sys.stderr)
        results["tracekit", count] = measure([*tracekit, *chosen, "--out", str(out / "ds")])
        shutil.rmtree(out, ignore_errors=True)
        print(f"tracekit import --jobs 1, {count} files ...", file=sys.stderr)
        results["tracekit --jobs 1", count] = measure(
            [*tracekit, *chosen, "--out", str(out / "ds"), "--jobs", "1"]
        )
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        print(f"naive import, {count} files ...", file=sys.stderr)
        results["naive", count] = measure([*naive, str(out / "naive.parquet"), *chosen])
        print(f"tracekit importers to one Parquet file, {count} files ...", file=sys.stderr)
        results["convert-only", count] = measure([*convert, str(out / "convert.parquet"), *chosen])
        shutil.rmtree(out, ignore_errors=True)

    print(f"Machine: {machine()}.")
    print(f"Input: {args.files} Jaeger /api/traces files, {spans:,} spans, {size_mb:.0f} MB.\n")
    print("| run | files | wall s | CPU s | peak RSS MB | peak PSS MB |")
    print("|---|---|---|---|---|---|")
    for (name, count), result in sorted(results.items(), key=lambda item: (item[0][1], item[0][0])):
        print(
            f"| {name} | {count} | {result['wall']:.1f} | {result['cpu']:.1f} | "
            f"{result['peak_mb']:.0f} | {result['peak_pss_mb']:.0f} |"
        )
    ours, theirs = results["tracekit", args.files], results["naive", args.files]
    single = results["tracekit --jobs 1", args.files]
    small = results["tracekit", args.small]
    print()
    print(
        f"- time ratio (naive / tracekit, {args.files} files): wall "
        f"{theirs['wall'] / ours['wall']:.1f}x, CPU {theirs['cpu'] / ours['cpu']:.1f}x; "
        f"with --jobs 1: wall {theirs['wall'] / single['wall']:.1f}x, "
        f"CPU {theirs['cpu'] / single['cpu']:.1f}x"
    )
    print(
        f"- peak memory ratio (tracekit / naive, {args.files} files): "
        f"RSS {ours['peak_mb'] / theirs['peak_mb']:.2f}, PSS "
        f"{ours['peak_pss_mb'] / theirs['peak_pss_mb']:.2f}; with --jobs 1: RSS "
        f"{single['peak_mb'] / theirs['peak_mb']:.2f}, PSS "
        f"{single['peak_pss_mb'] / theirs['peak_pss_mb']:.2f}"
    )
    print(
        f"- memory flatness (tracekit peak at {args.files} / at {args.small} files): "
        f"{ours['peak_mb'] / small['peak_mb']:.2f}; naive: "
        f"{theirs['peak_mb'] / results['naive', args.small]['peak_mb']:.2f}"
    )


if __name__ == "__main__":
    main()
