"""Reading several trace files at once, in worker processes, in the order given.

Decoding JSON and building rows is pure-Python work, so files are spread over worker processes
(one file each at a time). Batches come back as Arrow IPC (a copy of the buffers, no per-row
pickling) and are yielded strictly in file order, so deduplication keeps "first occurrence wins"
and an error in file N surfaces exactly where a sequential read would raise it. At most
``jobs + 1`` files are in flight, which bounds memory.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa

from tracekit.importers import FileReport, read_file

# Below this much input, starting workers (each imports pyarrow and msgspec, ~0.5 s) costs more
# than reading the files in this process.
PARALLEL_MIN_BYTES = 64 * 2**20


def default_jobs(paths: Sequence[str | Path]) -> int:
    """Worker processes to use by default: one per CPU this process may run on, when there are
    several files on disk adding up to PARALLEL_MIN_BYTES or more; otherwise one (read here).

    On an idle 2-core machine two workers import the benchmark's 60 files in 0.56 of the time
    one process takes (docs/benchmarks.md, "Import"); on a machine whose cores are busy with
    other work they gain nothing, and ``--jobs 1`` keeps the import in one process.
    """
    if len(paths) < 2:
        return 1
    total = 0
    for path in paths:
        try:
            total += os.path.getsize(path)
        except OSError:
            continue
        if total >= PARALLEL_MIN_BYTES:
            return max(1, min(len(paths), len(os.sched_getaffinity(0))))
    return 1


def read_files(
    paths: Sequence[str | Path],
    reports: list[FileReport],
    skip_bad: bool = False,
    jobs: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """Span batches of every file, in order; one FileReport per file is appended to
    ``reports`` when its batches have all been yielded. ``-`` (stdin) is read in this process."""
    on_disk = [path for path in paths if str(path) != "-"]
    jobs = default_jobs(on_disk) if jobs is None else jobs
    if jobs <= 1 or len(on_disk) < 2:
        for path in paths:
            report = FileReport(str(path) if str(path) != "-" else "<stdin>")
            yield from read_file(path, skip_bad=skip_bad, report=report)
            reports.append(report)
        return
    # spawn, not fork: the parent may already run Arrow's or DuckDB's threads
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(on_disk)), mp_context=context) as pool:
        pending: deque[tuple[str | Path, Future[tuple[list[bytes], FileReport]] | None]] = deque()
        queue = deque(paths)
        try:
            while queue or pending:
                while queue and len(pending) <= jobs:
                    path = queue.popleft()
                    future = None if str(path) == "-" else pool.submit(_convert, path, skip_bad)
                    pending.append((path, future))
                path, future = pending.popleft()
                if future is None:
                    report = FileReport("<stdin>")
                    yield from read_file(path, skip_bad=skip_bad, report=report)
                else:
                    payloads, report = future.result()
                    for payload in payloads:
                        yield from pa.ipc.open_stream(payload)
                reports.append(report)
        finally:
            for _, future in pending:
                if future is not None:
                    future.cancel()


def _convert(path: str | Path, skip_bad: bool) -> tuple[list[bytes], FileReport]:
    """In a worker: one file's batches as Arrow IPC streams, and its report."""
    report = FileReport(str(path))
    payloads = []
    for batch in read_file(path, skip_bad=skip_bad, report=report):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        payloads.append(sink.getvalue().to_pybytes())
    return payloads, report
