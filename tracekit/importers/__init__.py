"""Trace files to span batches: Jaeger JSON and OTLP JSON, plain or gzip, files or stdin.

Public API (export, the simulator and tests use these)::

    read_file(path, skip_bad=False, report=None) -> Iterator[pa.RecordBatch]
    jaeger_to_batches(payload) -> Iterator[pa.RecordBatch]   # bytes, str, dict or list
    otlp_to_batches(payload) -> Iterator[pa.RecordBatch]     # bytes, str or dict
    document_batches(payload) -> Iterator[pa.RecordBatch]    # either format, detected

Every batch has exactly the columns and types of ``tracekit.schema.SPAN_SCHEMA`` and at most
``BATCH_ROWS`` rows (a single OTLP ``resourceSpans`` entry is never split). Feed them to
``tracekit.dataset.write_spans``. Bad input raises ``BadInput`` (converters) or ``UserError``
(``read_file``) naming the JSON path, byte offset or line of the problem.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from tracekit.errors import UserError
from tracekit.importers.columns import BATCH_ROWS, SpanColumns
from tracekit.importers.detect import READ_ERRORS, Chunks, leading_problem, open_input, source_name
from tracekit.importers.documents import document_batches, feed
from tracekit.importers.jaeger_json import jaeger_to_batches
from tracekit.importers.otlp_json import otlp_to_batches
from tracekit.importers.problems import BadInput, SkipLog

__all__ = [
    "BATCH_ROWS",
    "BadInput",
    "FileReport",
    "SkipLog",
    "document_batches",
    "jaeger_to_batches",
    "otlp_to_batches",
    "read_file",
]


@dataclass
class FileReport:
    """What reading one input found: its format, the spans read and what was skipped."""

    name: str
    format: str | None = None
    spans: int = 0
    skips: SkipLog = field(default_factory=SkipLog)


def read_file(
    path: str | Path, skip_bad: bool = False, report: FileReport | None = None
) -> Iterator[pa.RecordBatch]:
    """Span batches from one trace file (``-`` reads stdin), its format detected from its bytes.

    Raises UserError (one line naming the file and where the problem is) on the first bad
    record, unless ``skip_bad``: then bad traces, spans or lines are skipped and counted in
    ``report.skips``.

    >>> for batch in read_file("traces.json.gz"):  # doctest: +SKIP
    ...     print(batch.num_rows)
    """
    name = source_name(path)
    if report is None:
        report = FileReport(name)
    skips = report.skips if skip_bad else None
    columns = SpanColumns()
    kind = None
    try:
        with open_input(path) as (stream, compressed):
            chunks = Chunks(stream)
            for line, document in chunks:
                prefix = f"line {line}: " if line is not None else ""
                try:
                    problem = leading_problem(document)
                    if problem is not None:
                        raise BadInput("", problem)
                    kind = yield from _counted(feed(document, columns, skips=skips), report)
                except BadInput as exc:
                    if skips is None:
                        raise UserError(f"{name}: {prefix}{exc}") from None
                    skips.skip(
                        "line" if line is not None else "file",
                        BadInput(exc.where, prefix + exc.problem),
                    )
            if kind is not None:
                lines = "-lines" if chunks.kind == "jsonl" else ""
                report.format = kind + lines + ("+gzip" if compressed else "")
    except READ_ERRORS as exc:
        problem = (
            f"cannot read: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
        )
        if skips is None or isinstance(
            exc, FileNotFoundError | PermissionError | IsADirectoryError
        ):
            raise UserError(f"{name}: {problem}") from None
        skips.skip("file", BadInput("", problem + "; the rest of the file was skipped"))
    if len(columns):
        report.spans += len(columns)
        yield columns.take_batch()


def _counted(
    batches: Generator[pa.RecordBatch, None, str], report: FileReport
) -> Generator[pa.RecordBatch, None, str]:
    """Pass batches on, counting their rows; returns what the generator returned."""
    while True:
        try:
            batch = next(batches)
        except StopIteration as stop:
            return str(stop.value)
        report.spans += batch.num_rows
        yield batch
