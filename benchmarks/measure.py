"""Measuring a command in a fresh process: wall and CPU time, peak RSS and PSS of its whole
process tree (shared by the benchmarks that run tracekit as a user would)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path


def tree_usage(roots: list[int]) -> tuple[int, int, dict[int, int]]:
    """Summed RSS and PSS (kB) of the process trees under ``roots``, and each of their
    processes' CPU clock ticks so far (utime + stime), read from /proc."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                parents[int(name)] = int(fields[1])
                ticks[int(name)] = int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = set(roots), list(roots)
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
    return rss, pss, {pid: ticks[pid] for pid in tree if pid in ticks}


# Runs a command and reports its usage: CPU from getrusage(RUSAGE_CHILDREN) (worker processes
# are waited for by the command, so their time is included) and the peaks of the summed RSS and
# of the summed PSS of the whole process tree, sampled every 50 ms from /proc (ru_maxrss alone
# would give only the largest single process). PSS (proportional set size) counts a page shared by
# n processes as 1/n in each: summed RSS counts the libraries that worker processes all map (about
# 80 MB of pyarrow, numpy, pandas) once per process, PSS once in all.
WRAPPER = """
import json, resource, subprocess, sys, time

sys.path.insert(0, sys.argv.pop(1))  # this folder, for tree_usage
from measure import tree_usage

sample = sys.argv.pop(1) == "sample"
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = peak_pss = 0
while sample and child.poll() is None:
    rss, pss, _ = tree_usage([child.pid])
    peak, peak_pss = max(peak, rss), max(peak_pss, pss)
    time.sleep(0.05)
child.wait()
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": child.returncode, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "peak_mb": max(peak, usage.ru_maxrss) / 1024,
                  "peak_pss_mb": max(peak_pss, 1) / 1024}))
"""


def measure(command: list[str], *, check: bool = True, sample: bool = True) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak RSS and PSS (MB) of one command in a fresh process.

    ``sample=False`` leaves out the sampling of /proc, for times alone: reading smaps_rollup
    walks the command's page tables every 50 ms, and on 2 cores that slowed both the naive
    import (47.9 s unsampled, 53.7 s sampled) and tracekit's (10.7 s, 12.3 s). Without it the
    peaks are ru_maxrss (the largest single process) and PSS is not measured (0)."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            WRAPPER,
            str(Path(__file__).resolve().parent),
            "sample" if sample else "wait",
            *command,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout)
    if result["rc"] and check:
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
