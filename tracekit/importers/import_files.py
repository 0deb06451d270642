"""``import_files``: trace files into a dataset in one atomic write (what ``tracekit import``
runs; the command only parses its flags and prints the result)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from tracekit.dataset import Manifest, WriteResult, write_spans
from tracekit.errors import UserError
from tracekit.importers import FileReport
from tracekit.importers.parallel import read_files


@dataclass
class ImportResult:
    """What an import did: the write's counts and one report per input file."""

    write: WriteResult
    files: list[FileReport] = field(default_factory=list)

    @property
    def formats(self) -> list[str]:
        return sorted({report.format for report in self.files if report.format})

    @property
    def skipped(self) -> int:
        return sum(sum(report.skips.units.values()) for report in self.files)


def import_files(
    paths: Sequence[str],
    dataset: str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    jobs: int | None = None,
) -> ImportResult:
    """Import Jaeger JSON or OTLP JSON files (plain or gzip; ``-`` for stdin) into ``dataset``
    (created when missing), with their per-trace results, in one atomic write: any error leaves
    the dataset as it was (and removes a dataset folder this call created).

    >>> import_files(["traces.json.gz"], "data/ds").write.added  # doctest: +SKIP
    1520
    """
    check_inputs(paths, dataset)
    reports: list[FileReport] = []

    def batches() -> Iterator[pa.RecordBatch]:
        yield from read_files(paths, reports, skip_bad=skip_bad, jobs=jobs)

    def record_files(manifest: Manifest) -> None:
        manifest.sources[-1].details["files"] = [
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
        result = write_spans(
            root, batches(), source={"kind": "import"}, manifest_update=record_files
        )
    except BaseException:
        _undo_empty_dataset(root, before)
        raise
    return ImportResult(write=result, files=reports)


def check_inputs(paths: Sequence[str], dataset: str | os.PathLike[str]) -> None:
    """Refuse inputs that cannot be imported before anything is read or created."""
    if list(paths).count("-") > 1:
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
