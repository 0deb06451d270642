"""``write_spans``: append spans to a dataset atomically, with their per-trace results.

Layout::

    DATASET/manifest.json                          what is committed (tracekit.dataset.manifest)
    DATASET/date=YYYY-MM-DD/part-<uuid>.parquet    spans by UTC start date, with their self_us
    DATASET/derived/<table>/part-<uuid>.parquet    per-trace tables (tracekit.per_trace)

A write streams the new batches into a private staging folder, keeps the rows whose
(trace_id, span_id) is not stored yet (tracekit.dataset.keep), and then works trace by trace:
every trace that gains a span has its per-trace results computed from all its spans, the new ones
and those already stored (a late span, a trace split across export chunks or days). Stored rows of
such a trace move: the files holding them are rewritten without them, and the trace's spans and
results are written again in full. Files are put in place under names the manifest records as
``pending`` first, then the manifest commits them (an atomic rename), so a crash at any step
leaves the dataset as it was, and a later write removes only what the manifest proves is ours.
A lock file serialises writers.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tracekit.cross_trace import CROSS_TRACE_VIEWS
from tracekit.dataset.keep import Keep, rows_to_keep
from tracekit.dataset.manifest import (
    SPANS,
    Manifest,
    PartFile,
    Source,
    now_iso,
    read_manifest,
    write_manifest,
)
from tracekit.dataset.staging import dates, read_keys, read_staged, stage
from tracekit.errors import UserError
from tracekit.per_trace import SELF_US, PerTraceResults, PerTraceRunner
from tracekit.schema import SCHEMA_VERSION, SPAN_SCHEMA, STORED_SPAN_SCHEMA

STAGING_PREFIX = ".staging-"
DERIVED = "derived"
_ROW_GROUP_SIZE = 122_880
# Traces are processed in buckets of about this many spans: the per-trace SQL holds one bucket
# in DuckDB at a time, so a write's memory does not grow with its size. Importing the benchmark's
# 480k spans: 64k-span buckets peaked at 636 MB, 48k at 595 MB, 32k at 560 MB (PSS of the process
# tree), the write taking 0.7 s (8%) longer for 32k than for 64k (docs/benchmarks.md "Import").
ROWS_PER_BUCKET = 32_000
# DuckDB's budget for one bucket's per-trace SQL; beyond it, it spills to the staging folder.
PER_TRACE_MEMORY = "512MB"
# Spans of one trace are looked for in stored files up to this far from a write's own spans
# (a trace's spans start within a day of each other in any system we know of).
TRACE_REACH = timedelta(days=1)


@dataclass(frozen=True)
class WriteResult:
    """What one write did: rows offered, rows added, span files added."""

    offered: int
    added: int
    files: int

    @property
    def duplicates(self) -> int:
        return self.offered - self.added


def write_spans(
    dataset: str | os.PathLike[str],
    batches: Iterable[pa.RecordBatch | pa.Table],
    *,
    source: dict[str, Any] | None = None,
    manifest_update: Callable[[Manifest], None] | None = None,
) -> WriteResult:
    """Append span batches to the dataset atomically, skipping rows already stored.

    ``batches`` must carry the columns of ``tracekit.schema.SPAN_SCHEMA`` (they are cast to it).
    They are streamed, never held all at once. ``source`` (``kind`` plus any details) is
    recorded in the manifest's sources with the counts of this write. ``manifest_update`` may
    change the manifest (e.g. export progress) in the same commit. An exception from the batches
    iterator aborts the write and leaves the dataset untouched.

    >>> write_spans("data/ds", [table], source={"kind": "import"})  # doctest: +SKIP
    WriteResult(offered=12, added=12, files=1)
    """
    root = Path(dataset)
    root.mkdir(parents=True, exist_ok=True)
    with writer_lock(root):
        manifest = read_manifest(root)
        sweep(root, manifest)
        if manifest.files and not manifest.derived:
            from tracekit.dataset.upgrade import upgrade_locked

            upgrade_locked(root, manifest)
        staging = root / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            offered, staged = stage(batches, staging / "in")
            change = Change()
            if offered:
                # one DuckDB connection for the write: what the dedup used, the per-trace SQL
                # reuses (two connections kept ~60 MB more resident on a 480k-span import)
                with PerTraceRunner(
                    memory_limit=PER_TRACE_MEMORY, temp_directory=str(staging / "spill")
                ) as runner:
                    keep = rows_to_keep(root, manifest, staged, offered, runner.con)
                    change = _write_traces(root, manifest, staged, keep, staging, runner)
                if change.added:
                    write_cross_trace(root, manifest, change, staging)
            commit(
                root,
                manifest,
                change,
                source=None
                if source is None
                else _source(source, offered=offered, added=change.added_rows),
                manifest_update=manifest_update,
            )
            return WriteResult(
                offered=offered,
                added=change.added_rows,
                files=sum(1 for entry in change.added if entry.table == SPANS),
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def update_manifest(dataset: str | os.PathLike[str], change: Callable[[Manifest], None]) -> None:
    """Change the manifest atomically without writing spans (e.g. to record export progress)."""
    write_spans(dataset, [], manifest_update=change)


def _source(source: dict[str, Any], *, offered: int, added: int) -> Source:
    details = {key: value for key, value in source.items() if key != "kind"}
    return Source(
        kind=str(source.get("kind", "")), spans=offered, added=added, at=now_iso(), details=details
    )


@dataclass
class Change:
    """What a write puts in place: new files (in ``folder``, moved under ``path`` at commit),
    the committed files they replace, and the span rows added."""

    added: list[PartFile] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    added_rows: int = 0
    folder: Path | None = None


def commit(
    root: Path,
    manifest: Manifest,
    change: Change,
    *,
    source: Source | None = None,
    manifest_update: Callable[[Manifest], None] | None = None,
) -> None:
    """Put ``change``'s files in place and commit them with one manifest rename.

    The new files' paths are first recorded as pending (so that a crash before the commit leaves
    files a later write can prove are ours), then moved into place, then committed.
    """
    if change.added:
        assert change.folder is not None
        manifest.pending = [entry.path for entry in change.added]
        write_manifest(root, manifest)
        for entry in change.added:
            target = root / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(change.folder / entry.path, target)
        manifest.pending = []
    manifest.replace_files(change.added, change.removed)
    manifest.schema_version = max(manifest.schema_version, SCHEMA_VERSION)
    if source is not None:
        manifest.record_source(source)
    if manifest_update is not None:
        manifest_update(manifest)
    write_manifest(root, manifest)
    _remove(root, change.removed)


def sweep(root: Path, manifest: Manifest) -> None:
    """Remove what an earlier write left behind and the manifest proves is ours: staging
    folders, files put in place by a write that never committed, files a commit replaced."""
    for child in root.iterdir():
        if child.name.startswith(STAGING_PREFIX) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
    committed = {entry.path for entry in manifest.files}
    _remove(root, [path for path in manifest.pending if path not in committed])
    _remove(root, [path for path in manifest.obsolete if path not in committed])
    manifest.pending = []
    manifest.obsolete = []


def _remove(root: Path, paths: Iterable[str]) -> None:
    for path in paths:
        target = root / path
        if target.suffix == ".parquet" and target.name.startswith("part-"):
            with contextlib.suppress(FileNotFoundError):
                target.unlink()


def write_cross_trace(root: Path, manifest: Manifest, change: Change, staging: Path) -> None:
    """Add to ``change`` the cross-trace results (``tracekit.cross_trace``) of the dataset as
    ``change`` will leave it, replacing those stored. They are computed by the views' SQL over
    the stored per-trace results of the files it keeps and those it adds."""
    from tracekit.connect import define_views, open_connection
    from tracekit.cross_trace import compute_cross_trace
    from tracekit.per_trace import PER_TRACE_VIEWS

    folder = change.folder
    assert folder is not None
    removed = set(change.removed)

    def files(table: str) -> list[str]:
        kept = [str(root / e.path) for e in manifest.table_files(table) if e.path not in removed]
        return kept + [str(folder / e.path) for e in change.added if e.table == table]

    con = open_connection(temp_directory=str(staging / "spill"))
    try:
        define_views(con, files, manifest, stored=PER_TRACE_VIEWS)
        tables = compute_cross_trace(con)
    finally:
        con.close()
    writers = PartWriters(folder)
    try:
        for name, table in tables.items():
            writers.write_table(name, table)
    finally:
        writers.close()
    change.added += writers.entries()
    change.removed += [
        entry.path for name in CROSS_TRACE_VIEWS for entry in manifest.table_files(name)
    ]


# -- the traces of a write -----------------------------------------------------------------


def _write_traces(
    root: Path,
    manifest: Manifest,
    staged: list[str],
    keep: Keep,
    staging: Path,
    runner: PerTraceRunner,
) -> Change:
    """Compute and write the spans and per-trace results of every trace gaining a span."""
    kept_keys = [read_keys(stem).take(pa.array(keep[stem])) for stem in staged]
    keys = pa.concat_tables(kept_keys)
    out = staging / "out"
    out.mkdir()
    change = Change(folder=out, added_rows=keys.num_rows)
    if keys.num_rows == 0:
        return change
    traces = pc.unique(keys["trace_id"])
    moved = find_stored(root, manifest, traces, keys["start_time"])
    buckets = max(1, math.ceil((keys.num_rows + moved.rows.num_rows) / ROWS_PER_BUCKET))
    firsts = keys.group_by("trace_id", use_threads=False).aggregate(
        [("start_time", "min"), ("start_time", "count")]
    )
    of_trace = pa.array(
        time_buckets(firsts["start_time_min"], firsts["start_time_count"], buckets), pa.int32()
    ).take(pc.index_in(traces, value_set=firsts["trace_id"]))
    bucket_of = [_bucket_of(stem_keys["trace_id"], traces, of_trace) for stem_keys in kept_keys]
    moved_of = _bucket_of(moved.rows["trace_id"], traces, of_trace)
    del keys, kept_keys
    writers = PartWriters(out)

    def write(spans: pa.Table, results: PerTraceResults) -> None:
        writers.write_spans(spans.append_column(SELF_US, results.self_us))
        for name, table in results.tables.items():
            if table.num_rows or not manifest.table_files(name):
                writers.write_table(name, table)

    # Parquet encoding releases the GIL, as DuckDB does: a bucket is written by a second
    # thread while the next one is computed.
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="tracekit-write") as pool:
            writing: Future[None] | None = None
            for spans in _buckets(staged, keep, bucket_of, moved.rows, moved_of, staging):
                results = runner.compute(spans)
                if writing is not None:
                    writing.result()
                writing = pool.submit(write, spans, results)
            if writing is not None:
                writing.result()
        for path, remaining in moved.rewrites.items():
            writers.rewrite(manifest_entry(manifest, path), remaining)
    finally:
        writers.close()
    change.added = writers.entries()
    change.removed = sorted(moved.rewrites)
    return change


def time_buckets(firsts: pa.Array | pa.ChunkedArray, spans: Any, buckets: int) -> np.ndarray:
    """The bucket of each trace, given its first start and span count: traces in order of
    their first start, cut into ``buckets`` runs of about as many spans each. A bucket's traces
    are close in time, so its spans fall on few dates: dealt round-robin (or by hash), every
    bucket held every date of a multi-day write, and each date's file got a row group from every
    bucket (351 row groups of ~640 spans a day after an upgrade of 100 days; scanning them was
    ten times slower)."""
    if buckets == 1 or len(firsts) == 0:
        return np.zeros(len(firsts), np.int32)
    order = np.argsort(pc.cast(firsts, pa.int64()).to_numpy(zero_copy_only=False), kind="stable")
    counts = np.asarray(spans, np.int64)[order]
    before = np.cumsum(counts) - counts
    of_trace = np.empty(len(order), np.int32)
    of_trace[order] = np.minimum(before * buckets // max(1, int(counts.sum())), buckets - 1)
    return of_trace


def _bucket_of(trace_ids: pa.ChunkedArray, traces: pa.Array, of_trace: pa.Array) -> np.ndarray:
    """Each row's bucket: that of its trace (``traces[i]`` is in bucket ``of_trace[i]``)."""
    index = pc.index_in(trace_ids, value_set=traces)
    return of_trace.take(index).to_numpy(zero_copy_only=False).astype(np.int32)


def _buckets(
    staged: list[str],
    keep: Keep,
    bucket_of: list[np.ndarray],
    moved: pa.Table,
    moved_of: np.ndarray,
    staging: Path,
) -> Iterator[pa.Table]:
    """The kept staged rows and the moved stored rows, one bucket (whole traces) at a time.

    With several buckets, one pass over the staging files first sorts the kept rows into a file
    per bucket, so each staging file is read once, not once per bucket."""
    moved = moved.select(SPAN_NAMES)
    buckets = 1 + max([int(assigned.max()) for assigned in bucket_of if len(assigned)], default=0)
    if buckets == 1:
        parts = [read_staged(stem).take(pa.array(keep[stem])) for stem in staged if len(keep[stem])]
        if moved.num_rows:
            parts.append(moved)
        if parts:
            yield pa.concat_tables(parts)
        return
    folder = staging / "buckets"
    folder.mkdir()
    stems = [str(folder / f"{bucket:05d}") for bucket in range(buckets)]
    sinks = [pa.ipc.new_file(stem + ".arrow", SPAN_SCHEMA) for stem in stems]
    try:
        for stem, assigned in zip(staged, bucket_of, strict=True):
            if not len(assigned):
                continue
            table = read_staged(stem).take(pa.array(keep[stem]))
            for bucket in np.unique(assigned):
                sinks[bucket].write_table(table.filter(pa.array(assigned == bucket)))
            del table
            pa.default_memory_pool().release_unused()
    finally:
        for sink in sinks:
            sink.close()
    for bucket, stem in enumerate(stems):
        table = read_staged(stem)
        if moved.num_rows:
            table = pa.concat_tables([table, moved.filter(pa.array(moved_of == bucket))])
        Path(stem + ".arrow").unlink()
        if table.num_rows:
            yield table


SPAN_NAMES = [name for name in STORED_SPAN_SCHEMA.names if name != SELF_US]


@dataclass
class StoredRows:
    """Stored rows of the traces a write touches: the span rows (which move into the write) and,
    per committed file holding any of those traces' rows, the table of what stays."""

    rows: pa.Table
    rewrites: dict[str, pa.Table]


def find_stored(
    root: Path, manifest: Manifest, traces: pa.Array, start_times: pa.ChunkedArray
) -> StoredRows:
    """The stored rows of ``traces`` near the write's time range (TRACE_REACH either side)."""
    empty = StoredRows(rows=STORED_SPAN_SCHEMA.empty_table(), rewrites={})
    if not manifest.files:
        return empty
    low = pc.min(start_times).as_py() - TRACE_REACH
    high = pc.max(start_times).as_py() + TRACE_REACH
    wanted = {
        (low + timedelta(days=day)).date().isoformat() for day in range((high - low).days + 1)
    }
    moved: list[pa.Table] = []
    rewrites: dict[str, pa.Table] = {}
    for entry in manifest.table_files(SPANS):
        if entry.date not in wanted:
            continue
        path = root / entry.path
        ids = pq.read_table(path, columns=["trace_id"])["trace_id"]
        hit = pc.is_in(ids, value_set=traces)
        if not pc.any(hit).as_py():
            continue
        table = pq.read_table(path)
        moved.append(table.filter(hit))
        rewrites[entry.path] = table.filter(pc.invert(hit))
    if not moved:
        return empty
    rows = pa.concat_tables(moved)
    moved_traces = pc.unique(rows["trace_id"])
    for name in manifest.tables():
        if name in CROSS_TRACE_VIEWS:  # replaced whole by every write (write_cross_trace)
            continue
        for entry in manifest.table_files(name):
            path = root / entry.path
            ids = pq.read_table(path, columns=["trace_id"])["trace_id"]
            hit = pc.is_in(ids, value_set=moved_traces)
            if pc.any(hit).as_py():
                rewrites[entry.path] = pq.read_table(path).filter(pc.invert(hit))
    return StoredRows(rows=rows, rewrites=rewrites)


def manifest_entry(manifest: Manifest, path: str) -> PartFile:
    for entry in manifest.files:
        if entry.path == path:
            return entry
    raise KeyError(path)


class PartWriters:
    """Open Parquet writers of one write: one span file per UTC date, one file per per-trace
    table; each gets a fresh ``part-<uuid>.parquet`` name under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writers: dict[tuple[str, str], pq.ParquetWriter] = {}
        self.paths: dict[tuple[str, str], str] = {}
        self.rows: dict[tuple[str, str], int] = {}
        self.ranges: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.copies: list[PartFile] = []

    def write_spans(self, spans: pa.Table) -> None:
        day_of, distinct, names = dates(spans["start_time"])
        for date, day in zip(distinct, names, strict=True):
            part = spans if len(names) == 1 else spans.filter(pc.equal(day_of, date))
            self._write((SPANS, day), f"date={day}", part, STORED_SPAN_SCHEMA)

    def write_table(self, name: str, table: pa.Table) -> None:
        self._write((name, ""), f"{DERIVED}/{name}", table, table.schema)

    def rewrite(self, entry: PartFile, remaining: pa.Table) -> None:
        """A committed file again without the rows that moved (nothing when none stay)."""
        if remaining.num_rows == 0:
            return
        folder = str(Path(entry.path).parent)
        path = f"{folder}/part-{uuid.uuid4().hex}.parquet"
        target = self.folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(remaining, target, compression="zstd", row_group_size=_ROW_GROUP_SIZE)
        self.copies.append(
            PartFile(
                path=path,
                table=entry.table,
                rows=remaining.num_rows,
                date=entry.date,
                first=entry.first,
                last=entry.last,
            )
        )

    def _write(self, key: tuple[str, str], folder: str, table: pa.Table, schema: pa.Schema) -> None:
        if key not in self.writers:
            path = f"{folder}/part-{uuid.uuid4().hex}.parquet"
            target = self.folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            self.writers[key] = pq.ParquetWriter(target, schema, compression="zstd")
            self.paths[key] = path
            self.rows[key] = 0
        self.writers[key].write_table(table.cast(schema), row_group_size=_ROW_GROUP_SIZE)
        self.rows[key] += table.num_rows
        low, high = _time_range(table)
        if low is not None:
            old = self.ranges.get(key)
            self.ranges[key] = (low, high) if old is None else (min(old[0], low), max(old[1], high))

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()

    def entries(self) -> list[PartFile]:
        entries = []
        for key, path in self.paths.items():
            table, day = key
            low, high = self.ranges.get(key, (None, None))
            entries.append(
                PartFile(
                    path=path,
                    table=table,
                    rows=self.rows[key],
                    date=day or None,
                    first=None if low is None else low.isoformat(),
                    last=None if high is None else high.isoformat(),
                )
            )
        return entries + self.copies


def _time_range(table: pa.Table) -> tuple[Any, Any]:
    """The earliest start and latest end of a table's rows, from the time columns it has."""
    starts = [name for name in ("start_time",) if name in table.column_names]
    ends = [name for name in ("end_time", "start_time") if name in table.column_names]
    if not starts or table.num_rows == 0:
        return None, None
    return pc.min(table[starts[0]]).as_py(), pc.max(table[ends[0]]).as_py()


@contextlib.contextmanager
def writer_lock(root: Path) -> Iterator[None]:
    """Hold the dataset's writer lock (a UserError when another process holds it)."""
    with open(root / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise UserError(f"{root}: another tracekit process is writing this dataset") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
