"""Reading several trace files at once, in the order given.

A Jaeger JSON file is read by a thread of this process: the compiled converter
(``tracekit.importers.native``) parses and maps it without holding the interpreter lock, so
threads convert files side by side with no process to start and no copy of the batches. Any
other file (OTLP JSON, or Jaeger JSON without the converter) is decoded by pure-Python work, so
it goes to a worker process; its batches come back as Arrow IPC (a copy of the buffers, no
per-row pickling). Either way batches are yielded strictly in file order, so deduplication keeps
"first occurrence wins" and an error in file N surfaces exactly where a sequential read would
raise it. At most ``jobs + 1`` files are in flight, which bounds memory.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import stat
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from tracekit.importers import FileReport, native, read_file
from tracekit.importers.detect import READ_ERRORS, open_input

# Below this much input, starting workers (each imports pyarrow and msgspec, ~0.5 s) costs more
# than reading the files in this process.
PARALLEL_MIN_BYTES = 64 * 2**20
# Workers used at most unless --jobs says otherwise: each holds a decoded file in memory.
MAX_DEFAULT_JOBS = 4
# A worker's memory: its imports, and the decoded structs of the file it reads (about 8-10 times
# the JSON: docs/benchmarks.md, "Import").
WORKER_BASE_BYTES = 160 * 2**20
WORKER_BYTES_PER_INPUT_BYTE = 12
# How much of a file's start decides whether it is OTLP JSON: its resources' key comes first.
SNIFF_BYTES = 64 * 2**10
# How often a worker checks that its parent still lives: a SIGKILLed import cannot shut its pool
# down, and a worker blocked on the job queue would otherwise live on (and with it the resource
# tracker, which exits when the last process holding its pipe does).
PARENT_CHECK_S = 0.2


def default_jobs(paths: Sequence[str | Path]) -> int:
    """Files to read at once by default: one per CPU this process may run on (at most
    MAX_DEFAULT_JOBS, and no more than the available memory holds, each reader holding the
    largest file), when there are several files on disk adding up to PARALLEL_MIN_BYTES or
    more; otherwise one (read in turn by this process).

    On an idle 2-core machine two reading threads stage the benchmark's 60 Jaeger files in about
    half the time one takes (docs/benchmarks.md, "Import"); on a machine whose cores are busy
    with other work they gain nothing, and ``--jobs 1`` reads one file at a time.
    """
    if len(paths) < 2:
        return 1
    sizes = []
    for path in paths:
        try:
            sizes.append(os.path.getsize(path))
        except OSError:
            continue
    if sum(sizes) < PARALLEL_MIN_BYTES:
        return 1
    jobs = min(len(paths), len(os.sched_getaffinity(0)), MAX_DEFAULT_JOBS)
    available = _available_memory()
    if available is not None:
        per_worker = WORKER_BASE_BYTES + WORKER_BYTES_PER_INPUT_BYTE * max(sizes)
        jobs = min(jobs, available // per_worker)
    return max(1, jobs)


def _available_memory() -> int | None:
    """Bytes of memory available to new processes (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def read_files(
    paths: Sequence[str | Path],
    reports: list[FileReport],
    skip_bad: bool = False,
    jobs: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """Span batches of every file, in order; one FileReport per file is appended to
    ``reports`` when its batches have all been yielded. ``-`` (stdin) is read in this process;
    a file the compiled converter reads (``compiled``) by a thread, any other by a worker
    process, ``jobs`` files at once."""
    on_disk = [path for path in paths if str(path) != "-"]
    jobs = default_jobs(on_disk) if jobs is None else jobs
    if jobs <= 1 or len(on_disk) < 2:
        for path in paths:
            report = FileReport(str(path) if str(path) != "-" else "<stdin>")
            yield from read_file(path, skip_bad=skip_bad, report=report)
            reports.append(report)
        return
    threads = ThreadPoolExecutor(min(jobs, len(on_disk)), thread_name_prefix="tracekit-read")
    processes: ProcessPoolExecutor | None = None
    # each file's path, what reads it (None: stdin, read here) and whether its batches come
    # back as Arrow IPC (from a worker process)
    pending: deque[tuple[str | Path, Future[tuple[list[Any], FileReport]] | None, bool]] = deque()
    queue = deque(paths)
    try:
        while queue or pending:
            while queue and len(pending) <= jobs:
                path = queue.popleft()
                if str(path) == "-":
                    pending.append((path, None, False))
                elif compiled(path):
                    pending.append((path, threads.submit(_read, path, skip_bad), False))
                else:
                    if processes is None:
                        processes = _worker_pool(min(jobs, len(on_disk)))
                    pending.append((path, processes.submit(_convert, path, skip_bad), True))
            path, future, ipc = pending.popleft()
            if future is None:
                report = FileReport("<stdin>")
                yield from read_file(path, skip_bad=skip_bad, report=report)
            else:
                batches, report = future.result()
                for batch in batches:
                    if ipc:
                        yield from pa.ipc.open_stream(batch)
                    else:
                        yield batch
            reports.append(report)
    except BaseException:
        # A bad file, Ctrl-C or a failed write: stop the other workers now rather than wait
        # for the files they are reading (a thread finishes the file it is converting).
        threads.shutdown(wait=False, cancel_futures=True)
        if processes is not None:
            _stop_workers(processes)
        raise
    else:
        threads.shutdown()
        if processes is not None:
            processes.shutdown()


def compiled(path: str | Path) -> bool:
    """Whether ``path`` is a file the compiled converter reads (Jaeger JSON, the converter
    built), as far as its start tells: an OTLP document names its resources first. Only where
    the file is read depends on this; a wrong guess costs time, never rows. A pipe or device is
    not looked at (its start can be read only once, and opening a FIFO waits for its writer):
    a worker process reads it."""
    if not native.available():
        return False
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open_input(path) as (stream, _):
            head = stream.read(SNIFF_BYTES)
    except READ_ERRORS:
        return True  # the read names the problem, in order
    return b'"resourceSpans"' not in head and b'"resource_spans"' not in head


def _worker_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent may already run Arrow's or DuckDB's threads
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_watch_parent,
        initargs=(os.getpid(),),
    )


def _read(path: str | Path, skip_bad: bool) -> tuple[list[pa.RecordBatch], FileReport]:
    """In a thread: one file's batches, and its report."""
    report = FileReport(str(path))
    return list(read_file(path, skip_bad=skip_bad, report=report)), report


def _watch_parent(parent: int) -> None:
    """In a worker, at start: die with the parent, and leave Ctrl-C to it.

    Ctrl-C reaches every process of the terminal's group; the parent stops the pool, so a
    worker ignores it instead of printing a traceback of its own.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="tracekit-parent-watch", daemon=True).start()


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and terminate the workers, without waiting for them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # CPython's pid map
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()


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
