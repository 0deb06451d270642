"""``tracekit import PATH... --out DATASET [--skip-bad]``: trace files into a dataset."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pyarrow as pa

from tracekit.cli.failures import writing
from tracekit.dataset import write_spans
from tracekit.errors import UserError
from tracekit.importers import FileReport
from tracekit.importers.parallel import read_files


@click.command("import")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--out",
    "dataset",
    required=True,
    type=click.Path(),
    help="Dataset folder (created when missing).",
)
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Import the good traces/spans/lines of a bad file; report what was skipped.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes reading files at once (default: one per CPU, at most 4 and as many "
    "as memory holds, for 64 MB or more of files; else 1: read in this process).",
)
def command(paths: tuple[str, ...], dataset: str, skip_bad: bool, jobs: int | None) -> None:
    """Import Jaeger JSON or OTLP JSON files (plain or gzip; - for stdin) into DATASET.

    All files are imported in one atomic write: any error leaves the dataset as it was.
    """
    _check_inputs(paths, dataset)
    reports: list[FileReport] = []

    def batches() -> Iterator[pa.RecordBatch]:
        yield from read_files(paths, reports, skip_bad=skip_bad, jobs=jobs)

    def record_files(manifest: dict[str, Any]) -> None:
        manifest["sources"][-1]["files"] = [
            {
                "path": _shown(report.name),
                "format": report.format,
                "spans": report.spans,
                "skipped": sum(report.skips.units.values()),
            }
            for report in reports
        ]

    root = Path(dataset)
    before = set(os.listdir(root)) if root.is_dir() else None
    try:
        with writing(dataset):
            result = write_spans(
                root, batches(), source={"kind": "import"}, manifest_update=record_files
            )
    except BaseException:
        _undo_empty_dataset(root, before)
        raise
    for report in reports:
        if report.skips:
            click.echo(f"{report.name}: {report.skips.summary()}", err=True)
    formats = ", ".join(sorted({report.format for report in reports if report.format}))
    skipped = sum(sum(report.skips.units.values()) for report in reports)
    click.echo(
        f"imported {len(reports)} file{'s' if len(reports) != 1 else ''}"
        + (f" ({formats})" if formats else "")
        + f" into {dataset}: {result.offered} spans read, {result.added} added, "
        f"{result.duplicates} duplicates skipped"
        + (f", {skipped} bad records skipped" if skip_bad else "")
    )


def _check_inputs(paths: tuple[str, ...], dataset: str) -> None:
    if paths.count("-") > 1:
        raise UserError("tracekit import: '-' (stdin) can be given only once")
    for path in paths:
        if path == "-":
            continue
        if not os.path.exists(path):
            raise UserError(f"{path}: no such file")
        if os.path.isdir(path):
            raise UserError(f"{path}: is a folder; give the trace files inside it")
    if os.path.exists(dataset) and not os.path.isdir(dataset):
        raise UserError(f"{dataset}: exists and is not a folder (--out needs a dataset folder)")


def _shown(name: str) -> str:
    return name if name == "<stdin>" else os.path.abspath(name)


def _undo_empty_dataset(root: Path, before: set[str] | None) -> None:
    """After a failed first import, remove what the attempt created (the folder, its lock)."""
    if not root.is_dir():
        return
    created = set(os.listdir(root)) - (before or set())
    if created - {".lock"}:
        return
    for name in created:
        (root / name).unlink(missing_ok=True)
    if before is None:
        with contextlib.suppress(OSError):
            root.rmdir()
