"""Reading several trace files at once, in worker processes, in the order given.

Decoding JSON and building rows is pure-Python work, so files are spread over worker processes
(one file each at a time). Batches come back as Arrow IPC (a copy of the buffers, no per-row
pickling) and are yielded strictly in file order, so deduplication keeps "first occurrence wins"
and an error in file N surfaces exactly where a sequential read would raise it. At most
``jobs + 1`` files are in flight, which bounds memory.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa

from tracekit.importers import FileReport, read_file

# Below this much input, starting workers (each imports pyarrow and msgspec, ~0.5 s) costs more
# than reading the files in this process.
PARALLEL_MIN_BYTES = 64 * 2**20
# Workers used at most unless --jobs says otherwise: each holds a decoded file in memory.
MAX_DEFAULT_JOBS = 4
# A worker's memory: its imports, and the decoded structs of the file it reads (about 8-10 times
# the JSON: docs/benchmarks.md, "Import").
WORKER_BASE_BYTES = 160 * 2**20
WORKER_BYTES_PER_INPUT_BYTE = 12
# How often a worker checks that its parent still lives: a SIGKILLed import cannot shut its pool
# down, and a worker blocked on the job queue would otherwise live on (and with it the resource
# tracker, which exits when the last process holding its pipe does).
PARENT_CHECK_S = 0.2


def default_jobs(paths: Sequence[str | Path]) -> int:
    """Worker processes to use by default: one per CPU this process may run on (at most
    MAX_DEFAULT_JOBS, and no more than the available memory holds, each worker reading the
    largest file), when there are several files on disk adding up to PARALLEL_MIN_BYTES or
    more; otherwise one (read here).

    On an idle 2-core machine two workers import the benchmark's 60 files in 0.6-0.8 of the
    time one process takes (docs/benchmarks.md, "Import"); on a machine whose cores are busy
    with other work they gain nothing, and ``--jobs 1`` keeps the import in one process.
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
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(on_disk)),
        mp_context=context,
        initializer=_watch_parent,
        initargs=(os.getpid(),),
    )
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
    except BaseException:
        # A bad file, Ctrl-C or a failed write: stop the other workers now rather than wait
        # for the files they are reading.
        _stop_workers(pool)
        raise
    else:
        pool.shutdown()


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
