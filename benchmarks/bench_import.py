"""Import benchmark: `tracekit import` against the naive script an analyst writes first.

Generates seeded Jaeger /api/traces responses (1000 traces of 8 spans per file, with typed tags,
logs and references; benchmarks/jaeger_gen.py), then imports the first SMALL files and all FILES
files with `tracekit import` (its default workers, and `--jobs 1`) and
benchmarks/naive_import.py (json.load, a Python loop building dicts,
pandas.DataFrame(...).to_parquet). Each run is a fresh subprocess; its wall time,
CPU time and peak memory (summed RSS and summed PSS of its process tree) come from a tiny
wrapper process.

    .venv/bin/python benchmarks/bench_import.py [--files 60] [--small 15] [--repeat 1]
        [--workdir DIR]

Times come from runs whose memory is not sampled (sampling /proc every 50 ms slows the
command it samples: benchmarks/measure.py), the median of --repeat runs each; peak memory from
one more run of each, sampled every 50 ms, whose wall time is shown too.

Prints a Markdown table (paste it under "## Import" in docs/benchmarks.md) with the time ratio
(naive / tracekit), the peak-memory ratio (tracekit / naive) and memory flatness (tracekit's
peak at FILES files / at SMALL files).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from jaeger_gen import write_responses  # noqa: E402
from measure import machine, measure  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--small", type=int, default=15)
    parser.add_argument("--traces", type=int, default=1000, help="traces per file")
    parser.add_argument(
        "--repeat", type=int, default=1, help="timed runs of each command (the median is shown)"
    )
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
    out = args.workdir / "out"

    def run(name: str, count: int, command: list[str]) -> None:
        """Time ``command`` (the median of --repeat unsampled runs), then take its peaks from
        one sampled run; each run on a fresh output folder."""
        print(f"{name}, {count} files ...", file=sys.stderr)
        runs = []
        for sample in [False] * args.repeat + [True]:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            runs.append(measure(command, sample=sample))
        timed = sorted(runs[:-1], key=lambda result: result["wall"])[len(runs[:-1]) // 2]
        results[name, count] = {
            "wall": timed["wall"],
            "cpu": timed["cpu"],
            "sampled_wall": runs[-1]["wall"],
            "peak_mb": runs[-1]["peak_mb"],
            "peak_pss_mb": runs[-1]["peak_pss_mb"],
        }
        shutil.rmtree(out, ignore_errors=True)

    for count in (args.small, args.files):
        chosen = files[:count]
        run("tracekit", count, [*tracekit, *chosen, "--out", str(out / "ds")])
        run(
            "tracekit --jobs 1",
            count,
            [*tracekit, *chosen, "--out", str(out / "ds"), "--jobs", "1"],
        )
        run("naive", count, [*naive, str(out / "naive.parquet"), *chosen])
        run("convert-only", count, [*convert, str(out / "convert.parquet"), *chosen])

    print(f"Machine: {machine()}.")
    print(f"Input: {args.files} Jaeger /api/traces files, {spans:,} spans, {size_mb:.0f} MB.\n")
    print(f"Times: the median of {args.repeat} unsampled run(s); peaks: one sampled run.\n")
    print("| run | files | wall s | CPU s | wall s (sampled run) | peak RSS MB | peak PSS MB |")
    print("|---|---|---|---|---|---|---|")
    for (name, count), result in sorted(results.items(), key=lambda item: (item[0][1], item[0][0])):
        print(
            f"| {name} | {count} | {result['wall']:.1f} | {result['cpu']:.1f} | "
            f"{result['sampled_wall']:.1f} | {result['peak_mb']:.0f} | "
            f"{result['peak_pss_mb']:.0f} |"
        )
    ours, theirs = results["tracekit", args.files], results["naive", args.files]
    single = results["tracekit --jobs 1", args.files]
    small = results["tracekit", args.small]
    print()
    print(
        f"- time ratio (naive / tracekit, {args.files} files): wall "
        f"{theirs['wall'] / ours['wall']:.1f}x, CPU {theirs['cpu'] / ours['cpu']:.1f}x; "
        f"with --jobs 1: wall {theirs['wall'] / single['wall']:.1f}x, "
        f"CPU {theirs['cpu'] / single['cpu']:.1f}x; in the sampled runs: wall "
        f"{theirs['sampled_wall'] / ours['sampled_wall']:.1f}x"
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
