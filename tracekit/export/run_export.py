"""Export every span of a time window from Jaeger into the dataset, chunk by chunk.

How completeness is reached with an API that has no pagination and returns at most `limit`
traces per search:

1. The window minus what the manifest says is done is cut into chunks (`chunk_us`).
2. Each chunk is searched per service; a search that comes back full is split in two halves
   and both are searched again, down to a millisecond.
3. Traces are merged across services and sub-windows (kept once, the copy with most spans);
   a trace with spans whose parent is missing is fetched again by id.
4. Once all its searches are answered, the chunk's new traces are converted by the importers
   in one go, redacted, and committed with write_spans together with the chunk's interval in
   the manifest (one atomic commit), so an interrupted run keeps every finished chunk and a
   rerun fetches only the rest. Chunks that finish soon after the last commit share the next
   one (COMMIT_INTERVAL_S, or four times as long as the last commit took).

Fetching runs in a thread pool a few chunks ahead while the main thread converts, and one
writer thread commits, so downloading, converting and writing overlap (v3 answers are read by
Arrow's JSON reader, which does not hold the GIL: tracekit.importers.otlp_arrow).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tracekit.dataset import Manifest, Source, read_manifest, update_manifest, write_spans
from tracekit.errors import UserError
from tracekit.export.api import ClassicApi, SearchResult, TraceDoc, V3Api, choose_api
from tracekit.export.client import JaegerClient
from tracekit.export.convert import docs_to_table, orphan_traces, warm_up
from tracekit.export.redact import Redactor
from tracekit.export.state import done_intervals, mark_done, settled, source_key
from tracekit.export.window import (
    Interval,
    chunk_count,
    format_us,
    halve,
    now_us,
    split,
    subtract,
)

log = logging.getLogger("tracekit.export")

MIN_SPLIT_US = 1_000  # below a millisecond a full search is reported, not split further
MAX_RUNS_KEPT = 50
# A year in the default 15-minute chunks is 35,040; past this a typo (`--chunk 1us`) would
# plan billions of chunks and hang building the list.
MAX_CHUNKS = 200_000
# A commit has a fixed cost, since the dataset computes per-trace results when spans are written
# ~0.25 CPU-s (37k spans: one write 0.74 CPU-s, eight writes 2.48), so finished chunks wait to
# share a commit: those finished within COMMIT_INTERVAL_S of the last commit, or within four
# times as long as it took (COMMIT_SHARE), whichever is longer, up to MAX_COMMIT_INTERVAL_S.
# An interrupted run loses at most about that much converted work. A group stops growing at
# MAX_CHUNKS_PER_COMMIT chunks or COMMIT_ROWS spans, which bounds what the writer holds.
COMMIT_INTERVAL_S = 1.0
COMMIT_SHARE = 0.25
MAX_COMMIT_INTERVAL_S = 15.0
MAX_CHUNKS_PER_COMMIT = 16
COMMIT_ROWS = 250_000


@dataclass
class ExportOptions:
    """What to export and how hard to try."""

    out: Path
    window: Interval
    services: list[str] = field(default_factory=list)
    api: str = "auto"
    limit: int = 500
    chunk_us: int = 15 * 60_000_000
    overlap_us: int = 5 * 60_000_000
    workers: int = 4
    chunks_ahead: int = 2
    refresh: bool = False
    redactor: Redactor = field(default_factory=lambda: Redactor(()))


@dataclass
class ChunkSummary:
    """What one commit did (one or more chunks; handed to the progress callback)."""

    chunks: int
    total: int
    interval: Interval
    counts: Counter[str]


@dataclass
class ExportReport:
    """Counts for the whole run; `counts` keys are listed in COUNT_NAMES."""

    api: str
    services: list[str]
    window: Interval
    chunks_total: int
    chunks_skipped_us: int
    counts: Counter[str]
    http: Counter[str]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (no secrets: URLs are stored elsewhere, safe)."""
        return {
            "api": self.api,
            "services": self.services,
            "window": [format_us(self.window[0]), format_us(self.window[1])],
            "chunks": self.chunks_total,
            **{name: self.counts.get(name, 0) for name in COUNT_NAMES},
            "requests": self.http.get("requests", 0),
            "retries": self.http.get("retries", 0),
            "bytes": self.http.get("bytes", 0),
            "seconds": round(self.seconds, 3),
        }


COUNT_NAMES = (
    "searches",
    "splits",
    "saturated",
    "traces",
    "refetched",
    "incomplete",
    "spans",
    "added",
)


@dataclass
class _Chunk:
    index: int
    interval: Interval
    pending: int = 0
    refetching: bool = False
    docs: dict[str, TraceDoc] = field(default_factory=dict)  # trace id -> its copy to convert
    converted: pa.Table | None = None  # the searches' traces, converted once all answered
    counts: Counter[str] = field(default_factory=Counter)

    def convert(self, api: V3Api | ClassicApi) -> pa.Table:
        """The chunk's rows: the traces taken so far, converted, where traces fetched again by
        id replace their earlier copies. The traces taken since the last call are converted in
        one go: a conversion has a fixed cost."""
        if self.docs or self.converted is None:
            fresh = docs_to_table(api, list(self.docs.values()))
            if self.converted is not None:
                replaced = pa.array(list(self.docs), pa.string())
                kept = self.converted.filter(
                    pc.invert(pc.is_in(self.converted.column("trace_id"), replaced))
                )
                fresh = pa.concat_tables([kept, fresh])
            self.converted, self.docs = fresh, {}
        return self.converted


def run_export(
    client: JaegerClient,
    options: ExportOptions,
    on_chunk: Callable[[ChunkSummary], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> ExportReport:
    """Export `options.window` from the Jaeger behind `client` into `options.out`.

    >>> run_export(JaegerClient(ClientOptions("http://127.0.0.1:16686")),  # doctest: +SKIP
    ...            ExportOptions(Path("data/ds"), resolve_window("2h", None, None)))
    """
    started = time.monotonic()
    threading.Thread(target=warm_up, name="tracekit-warm-up", daemon=True).start()
    api = choose_api(client, options.api)
    known = api.services(client)
    services = _select_services(known, options.services, client.display_url)
    key = source_key(client.display_url, options.services)
    manifest = read_manifest(options.out)
    done = [] if options.refresh else done_intervals(manifest, key)
    todo = subtract(options.window, done)
    if not services:
        log.warning("%s knows no services yet: nothing to export", client.display_url)
        todo = []
    pieces = chunk_count(todo, options.chunk_us)
    if pieces > MAX_CHUNKS:
        raise UserError(
            f"--chunk cuts the window into {pieces} chunks (at most {MAX_CHUNKS}): give a "
            "larger --chunk or a shorter window"
        )
    chunks = [
        _Chunk(index, interval)
        for index, interval in enumerate(
            piece for part in todo for piece in split(part, options.chunk_us)
        )
    ]
    skipped_us = (options.window[1] - options.window[0] + 1) - sum(e - s + 1 for s, e in todo)
    log.info(
        "exporting %s .. %s from %s (api %s, %d services, %d chunks to fetch)",
        format_us(options.window[0]),
        format_us(options.window[1]),
        client.display_url,
        api.name,
        len(services),
        len(chunks),
    )
    if on_plan is not None:
        on_plan(len(chunks))
    totals: Counter[str] = Counter()
    if chunks and services:
        _Pipeline(client, api, services, options, key, chunks, totals, on_chunk).run()
        _record_run(options, key, api.name, totals, started)
    return ExportReport(
        api=api.name,
        services=services,
        window=options.window,
        chunks_total=len(chunks),
        chunks_skipped_us=skipped_us,
        counts=totals,
        http=Counter(client.stats),
        seconds=time.monotonic() - started,
    )


def _select_services(known: list[str], wanted: list[str], where: str) -> list[str]:
    if not wanted:
        return known
    unknown = [name for name in wanted if name not in known]
    if unknown:
        listing = ", ".join(known[:20]) or "none"
        raise UserError(f"--service {unknown[0]}: {where} knows no such service (known: {listing})")
    return list(dict.fromkeys(wanted))


class _Pipeline:
    """Fetchers (thread pool) -> converter (this thread) -> committer (one writer thread)."""

    def __init__(
        self,
        client: JaegerClient,
        api: V3Api | ClassicApi,
        services: list[str],
        options: ExportOptions,
        key: str,
        chunks: list[_Chunk],
        totals: Counter[str],
        on_chunk: Callable[[ChunkSummary], None] | None,
    ) -> None:
        self.client = client
        self.api = api
        self.services = services
        self.options = options
        self.key = key
        self.chunks = chunks
        self.totals = totals
        self.on_chunk = on_chunk
        self.emitted: dict[str, int] = {}  # trace id -> spans already handed to the writer
        self.futures: dict[Future[Any], tuple[str, _Chunk, Any]] = {}
        self.commits: queue.Queue[tuple[_Chunk, pa.Table] | None] = queue.Queue(maxsize=4)
        self.writer_error: BaseException | None = None
        self.lock = threading.Lock()

    def run(self) -> None:
        pool = ThreadPoolExecutor(self.options.workers, thread_name_prefix="tracekit-fetch")
        writer = threading.Thread(target=self._writer, name="tracekit-write", daemon=True)
        writer.start()
        waiting = list(self.chunks)
        active = 0
        try:
            while waiting or self.futures:
                while waiting and active < self.options.chunks_ahead:
                    chunk = waiting.pop(0)
                    active += 1
                    for service in self.services:
                        self._search(pool, chunk, service, chunk.interval)
                finished, _ = wait(list(self.futures), return_when=FIRST_COMPLETED)
                for future in finished:
                    kind, chunk, detail = self.futures.pop(future)
                    chunk.pending -= 1
                    self._absorb(pool, kind, chunk, detail, future.result())
                    if chunk.pending == 0 and self._complete(pool, chunk):
                        active -= 1
                self._check_writer()
            self.commits.put(None)
            writer.join()
            self._check_writer()
        except BaseException:
            for future in self.futures:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            # Let the writer finish what it holds: finished chunks stay committed.
            self.commits.put(None)
            writer.join()
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _search(
        self, pool: ThreadPoolExecutor, chunk: _Chunk, service: str, interval: Interval
    ) -> None:
        future = pool.submit(self.api.search, self.client, service, interval, self.options.limit)
        self.futures[future] = ("search", chunk, (service, interval))
        chunk.pending += 1
        chunk.counts["searches"] += 1

    def _absorb(
        self, pool: ThreadPoolExecutor, kind: str, chunk: _Chunk, detail: Any, result: Any
    ) -> None:
        if kind == "search":
            service, interval = detail
            found: SearchResult = result
            self._take_new(chunk, found.traces)
            if found.full:
                if interval[1] - interval[0] >= MIN_SPLIT_US:
                    chunk.counts["splits"] += 1
                    for half in halve(interval):
                        self._search(pool, chunk, service, half)
                else:
                    chunk.counts["saturated"] += 1
                    log.warning(
                        "%s: %d+ traces within %s..%s; some may be missing (raise --limit)",
                        service,
                        self.options.limit,
                        format_us(interval[0]),
                        format_us(interval[1]),
                    )
        elif result is not None:  # a trace fetched by id
            self._take_new(chunk, [result])

    def _take_new(self, chunk: _Chunk, docs: list[TraceDoc]) -> None:
        """Keep the traces of `docs` not yet taken with as many spans in this run."""
        for doc in docs:
            if doc.spans > self.emitted.get(doc.trace_id, 0):
                if doc.trace_id not in self.emitted:
                    chunk.counts["traces"] += 1
                self.emitted[doc.trace_id] = doc.spans
                chunk.docs[doc.trace_id] = doc  # a fuller copy replaces the one kept before

    def _complete(self, pool: ThreadPoolExecutor, chunk: _Chunk) -> bool:
        """All requests of `chunk` answered: refetch partial traces by id, then commit."""
        if not chunk.refetching:
            chunk.refetching = True
            for trace_id in orphan_traces(chunk.convert(self.api)):
                future = pool.submit(self.api.trace, self.client, trace_id)
                self.futures[future] = ("trace", chunk, trace_id)
                chunk.pending += 1
                chunk.counts["refetched"] += 1
            if chunk.pending:
                return False
        table = chunk.convert(self.api)
        chunk.converted = None
        chunk.counts["incomplete"] += len(orphan_traces(table))
        table = self.options.redactor.apply(table)
        chunk.counts["spans"] += table.num_rows
        self._put_commit(chunk, table)
        return True

    def _put_commit(self, chunk: _Chunk, table: pa.Table) -> None:
        while True:
            self._check_writer()
            try:
                self.commits.put((chunk, table), timeout=0.2)
                return
            except queue.Full:
                continue

    def _writer(self) -> None:
        last_commit = time.monotonic()
        interval = COMMIT_INTERVAL_S
        while True:
            item = self.commits.get()
            if item is None:
                return
            group = [item]
            rows = item[1].num_rows
            # Commit the chunks waiting, and those that finish before the interval has passed
            # since the last commit, in one write: each chunk is still recorded as done in that
            # same atomic commit.
            deadline = last_commit + interval
            while len(group) < MAX_CHUNKS_PER_COMMIT and rows < COMMIT_ROWS:
                try:
                    waiting = self.commits.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if waiting is None:
                    self.commits.put(None)
                    break
                group.append(waiting)
                rows += waiting[1].num_rows
            if self.writer_error is not None:
                continue
            started = time.monotonic()
            try:
                self._commit(group)
            except BaseException as error:  # reported by the main thread
                self.writer_error = error
            last_commit = time.monotonic()
            took = last_commit - started
            interval = min(MAX_COMMIT_INTERVAL_S, max(COMMIT_INTERVAL_S, took / COMMIT_SHARE))

    def _commit(self, group: list[tuple[_Chunk, pa.Table]]) -> None:
        updates = [
            mark_done(
                self.key,
                settled(chunk.interval, self.options.overlap_us),
                {"spans": table.num_rows},
            )
            for chunk, table in group
        ]

        def update(manifest: Manifest) -> None:
            for change in updates:
                change(manifest)

        result = write_spans(
            self.options.out, [table for _, table in group], manifest_update=update
        )
        counts: Counter[str] = Counter()
        for chunk, _ in group:
            counts.update(chunk.counts)
        counts["added"] += result.added
        with self.lock:
            self.totals.update(counts)
        if self.on_chunk is not None:
            chunks = [chunk for chunk, _ in group]
            interval = (
                min(chunk.interval[0] for chunk in chunks),
                max(chunk.interval[1] for chunk in chunks),
            )
            self.on_chunk(ChunkSummary(len(group), len(self.chunks), interval, counts))

    def _check_writer(self) -> None:
        if self.writer_error is not None:
            raise self.writer_error


def _record_run(
    options: ExportOptions, key: str, api: str, totals: Counter[str], started: float
) -> None:
    """Remember the finished run in the manifest (no credentials: the key holds a safe URL)."""
    run = {
        "at": format_us(now_us()),
        "api": api,
        "window": [format_us(options.window[0]), format_us(options.window[1])],
        "seconds": round(time.monotonic() - started, 3),
        **{name: totals.get(name, 0) for name in COUNT_NAMES},
    }

    def change(manifest: Manifest) -> None:
        entry = manifest.export_source(key)
        entry.runs = (entry.runs + [run])[-MAX_RUNS_KEPT:]
        manifest.record_source(
            Source(
                kind="export",
                spans=totals.get("spans", 0),
                added=totals.get("added", 0),
                at=str(run["at"]),
                details={"source": key},
            )
        )

    update_manifest(options.out, change)
