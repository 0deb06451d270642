"""Benchmark: ``tracekit report all`` on a simulated day and a simulated week.

Prints seconds per report (papermill execution, HTML export and index included) and, as the
baseline in the same run, the cost of an empty notebook run (kernel start + HTML export), so the
ratio shows what the analysis itself costs. Results go to docs/benchmarks.md under "## Reports".

    .venv/bin/python benchmarks/bench_reports.py [--days 1 7] [--scenario mes-saturated]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import nbformat

from tracekit.dataset import read_manifest, write_spans
from tracekit.report.runner import run_reports
from tracekit.simulate import simulate


def _empty_notebook(folder: Path) -> None:
    """An ``explore.ipynb`` that only validates its parameters: the fixed cost of any report."""
    params = nbformat.v4.new_code_cell(
        'dataset: str = ""  # d\nsince: str = ""  # s\nstart: str = ""  # s\n'
        'end: str = ""  # e\nservices: list = []  # s'
    )
    params.metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook(
        cells=[
            params,
            nbformat.v4.new_code_cell(
                "from tracekit.report.params import validate_params\n"
                "p = validate_params(dataset=dataset, since=since)"
            ),
        ]
    )
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, folder / "explore.ipynb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, nargs="+", default=[1.0, 7.0])
    parser.add_argument("--scenario", default="mes-saturated")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--cache", help="keep the simulated datasets here and reuse them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        empty_dir = root / "empty-notebooks"
        empty_dir.mkdir()
        _empty_notebook(empty_dir)
        for days in args.days:
            name = f"sim-{args.scenario}-{days:g}d-seed{args.seed}"
            dataset = (Path(args.cache) if args.cache else root) / name
            began = time.monotonic()
            if not (dataset / "manifest.json").exists():
                result = simulate(
                    args.scenario,
                    duration_s=days * 86400,
                    load=1.0,
                    seed=args.seed,
                    start="2026-01-05T00:00:00Z",
                )
                write_spans(dataset, result.batches, source=result.source())
            spans = read_manifest(dataset).counts["spans"]
            print(
                f"{args.scenario}, {days:g} simulated day(s): {spans:,} spans "
                f"(ready in {time.monotonic() - began:.1f} s)"
            )
            os.environ["TRACEKIT_NOTEBOOKS"] = str(empty_dir)
            baseline = run_reports(["explore"], dataset, root / "out-empty")[0]
            del os.environ["TRACEKIT_NOTEBOOKS"]
            print(
                f"  baseline (empty notebook: kernel start, parameter check, HTML): "
                f"{baseline.seconds:.1f} s"
            )
            began = time.monotonic()
            results = run_reports("all", dataset, root / "out")
            total = time.monotonic() - began
            for run in results:
                print(
                    f"  {run.name:<12} {run.status:<6} {run.seconds:7.1f} s  "
                    f"({run.seconds / baseline.seconds:.1f}x baseline)"
                )
            print(f"  all reports: {total:.1f} s wall (with HTML export and index)")


if __name__ == "__main__":
    main()
