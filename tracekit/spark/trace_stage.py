"""Stage 1, traces: each task runs the per-trace kernel on its buckets of whole traces.

A task gets its partition's span rows sorted by bucket and takes the buckets one after another:
``tracekit.per_trace.PerTraceRunner`` computes each bucket's self times and per-trace results
(the view SQL, in DuckDB, with the task's cores and memory), and the task writes them into the
staging folder as a dataset stores them (``PartWriters``: one span file per date, one file per
per-trace table, shared by the task's buckets). The same bucket then yields, by the view SQL
over those results, the rows the grouped views aggregate (``FACTS``): the bucket holds whole
traces and the traces linked to them, so those rows are exact.

A bucket larger than the planned size (an oversized trace) is spooled to the executor's local
disk as it arrives and read back memory-mapped, so its rows are not held twice in memory; its
DuckDB work spills to local disk beyond the task's budget.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tracekit.schema import STORED_SPAN_SCHEMA
from tracekit.spark.buckets import BUCKET
from tracekit.spark.options import AnalyzeOptions

FACTS = "facts"
# Rows of the grouped views that one bucket determines: name -> how to get them (see
# BucketViews.facts). dependency_calls: calls between services, by child_of or by link.
# (Capacity's work rows are not among them: which names are leaves and when a message was
# published are answered across traces; `tracekit capacity` reads the result set instead.)
FACT_NAMES = ("dependency_calls",)

RECORD_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),  # 'part' (a dataset file), 'fact', 'task'
        ("table", pa.string()),
        ("path", pa.string()),
        ("rows", pa.int64()),
        ("date", pa.string()),
        ("first", pa.string()),
        ("last", pa.string()),
        ("buckets", pa.int64()),
        ("largest", pa.int64()),
        ("spooled", pa.int64()),
        ("seconds", pa.float64()),
    ]
)
RECORD_DDL = (
    "kind string, table string, path string, rows long, date string, first string, "
    "last string, buckets long, largest long, spooled long, seconds double"
)
# A task's error names itself with this, so the driver can show the one line that matters.
TASK_ERROR = "tracekit task:"


@dataclass(frozen=True)
class TraceTask:
    """What a trace-stage task needs (picklable: it travels to the executors)."""

    staging: str
    options: AnalyzeOptions

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return run_trace_task(batches, Path(self.staging), self.options)


def run_trace_task(
    batches: Iterator[pa.RecordBatch], staging: Path, options: AnalyzeOptions
) -> Iterator[pa.RecordBatch]:
    """Compute and write every bucket of one partition; yield the records of what was written."""
    from tracekit.dataset.writer import PartWriters
    from tracekit.limits import memory_bytes
    from tracekit.per_trace import SELF_US, PerTraceRunner

    started = time.perf_counter()
    cores = task_cores()
    local = Path(tempfile.mkdtemp(prefix="tracekit-task-", dir=local_dir()))
    # the kernel and the fact queries run one after the other; each gets half the budget, as
    # DuckDB keeps some of what a query used for the next one
    half = f"{max(memory_bytes(options.task_memory) // 2, 16 * 10**6) // 10**6}MB"
    parts = PartWriters(staging)
    facts = FactWriters(staging / FACTS)
    buckets = largest = spooled = 0
    try:
        with (
            PerTraceRunner(
                threads=cores, memory_limit=half, temp_directory=str(local / "kernel")
            ) as runner,
            BucketViews(
                threads=cores,
                memory_limit=half,
                temp_directory=str(local / "facts"),
            ) as views,
        ):
            spool_rows = 2 * options.bucket_spans
            for bucket, spans, was_spooled in buckets_of(batches, local, spool_rows):
                try:
                    results = runner.compute(spans)
                    stored = spans.append_column(SELF_US, results.self_us)
                    parts.write_spans(stored)
                    for name, table in results.tables.items():
                        parts.write_table(name, table)
                    for name, table in views.facts(stored, results.tables).items():
                        facts.write(name, table)
                except Exception as exc:
                    raise RuntimeError(
                        f"{TASK_ERROR} bucket {bucket} ({spans.num_rows} spans, e.g. trace "
                        f"{spans['trace_id'][0]}) failed with DuckDB's budget of {half} "
                        f"(half of --task-memory {options.task_memory}): "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                    ) from exc
                buckets += 1
                largest = max(largest, spans.num_rows)
                spooled += was_spooled
                del spans, stored, results
    finally:
        parts.close()
        facts.close()
        shutil.rmtree(local, ignore_errors=True)
    records: list[dict[str, Any]] = [
        {"kind": "part", **entry.to_json()} for entry in parts.entries()
    ] + [{"kind": "fact", **entry} for entry in facts.entries()]
    records.append(
        {
            "kind": "task",
            "buckets": buckets,
            "largest": largest,
            "spooled": spooled,
            "seconds": time.perf_counter() - started,
        }
    )
    yield pa.RecordBatch.from_pylist(records, schema=RECORD_SCHEMA)


def buckets_of(
    batches: Iterator[pa.RecordBatch], local: Path, spool_rows: int
) -> Iterator[tuple[int, pa.Table, bool]]:
    """The rows of consecutive buckets (the batches come sorted by bucket) as one table each,
    with the span schema's columns; a bucket of more than ``spool_rows`` rows is spooled to an
    Arrow file in ``local`` and read back memory-mapped (the flag says which)."""
    from tracekit.schema import SPAN_SCHEMA

    bucket = Bucket(local, spool_rows, SPAN_SCHEMA)
    for batch in batches:
        ids = batch.column(BUCKET).to_numpy(zero_copy_only=False)
        cuts = [0, *(np.flatnonzero(np.diff(ids)) + 1).tolist(), len(ids)]
        for start, end in zip(cuts, cuts[1:], strict=False):
            if end <= start:
                continue
            if bucket.id is not None and bucket.id != ids[start]:
                yield bucket.finish()
            bucket.add(int(ids[start]), batch.slice(start, end - start))
    if bucket.id is not None:
        yield bucket.finish()


class Bucket:
    """The rows of one bucket as they arrive: in memory, or in a local Arrow file once they
    pass ``spool_rows``."""

    def __init__(self, local: Path, spool_rows: int, schema: pa.Schema) -> None:
        self.local = local
        self.spool_rows = spool_rows
        self.schema = schema
        self.id: int | None = None
        self.pieces: list[pa.RecordBatch] = []
        self.rows = 0
        self.sink: pa.ipc.RecordBatchFileWriter | None = None
        self.path: Path | None = None

    def add(self, bucket: int, batch: pa.RecordBatch) -> None:
        self.id = bucket
        rows = pa.Table.from_batches([batch]).select(self.schema.names).cast(self.schema)
        self.rows += rows.num_rows
        if self.sink is None and self.rows > self.spool_rows:
            self.path = self.local / f"bucket-{bucket}-{uuid.uuid4().hex}.arrow"
            self.sink = pa.ipc.new_file(str(self.path), self.schema)
            for piece in self.pieces:
                self.sink.write_batch(piece)
            self.pieces = []
        if self.sink is not None:
            self.sink.write_table(rows)
        else:
            self.pieces.extend(rows.to_batches())

    def finish(self) -> tuple[int, pa.Table, bool]:
        assert self.id is not None
        bucket, spooled = self.id, self.sink is not None
        if self.sink is not None and self.path is not None:
            self.sink.close()
            # memory-mapped: the pages are the file's, which the kernel reads once
            table = pa.ipc.open_file(pa.memory_map(str(self.path))).read_all()
            self.path.unlink()  # the mapping keeps the data until the table goes
        else:
            table = pa.Table.from_batches(self.pieces, schema=self.schema)
        self.id, self.pieces, self.rows, self.sink, self.path = None, [], 0, None, None
        return bucket, table, spooled


class BucketViews:
    """A DuckDB connection with every tracekit view over one bucket at a time: ``span_rows``
    and ``spans`` are the bucket's rows, the per-trace views its kernel results (as a dataset's
    stored ones), so the fact queries below read them instead of computing them again."""

    def __init__(self, *, threads: int, memory_limit: str, temp_directory: str) -> None:
        import duckdb

        from tracekit.views import create_views

        self.con = duckdb.connect(
            config={
                "threads": threads,
                "memory_limit": memory_limit,
                "temp_directory": temp_directory,
            }
        )
        self.con.register("bucket_spans", STORED_SPAN_SCHEMA.empty_table())
        self.con.execute(
            "CREATE OR REPLACE VIEW span_rows AS SELECT * EXCLUDE (self_us) FROM bucket_spans"
        )
        create_views(self.con)
        self.con.execute("CREATE OR REPLACE VIEW spans AS SELECT * FROM bucket_spans")
        self.defined: set[str] = set()

    def __enter__(self) -> BucketViews:
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()

    def facts(self, stored: pa.Table, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
        """The fact rows (``FACT_NAMES``) of one bucket: its spans with self_us and its
        per-trace results."""

        con = self.con
        con.register("bucket_spans", stored)
        for name, table in tables.items():
            con.register(f"bucket_{name}", table)
            if name not in self.defined:
                con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM bucket_{name}")
                self.defined.add(name)
        return {"dependency_calls": con.sql("SELECT * FROM dependency_calls").to_arrow_table()}


class FactWriters:
    """One Parquet file per fact per task under ``folder/<name>/``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.paths: dict[str, str] = {}
        self.rows: dict[str, int] = {}
        self.schemas: dict[str, pa.Schema] = {}

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self.writers:
            path = f"{FACTS}/{name}/part-{uuid.uuid4().hex}.parquet"
            target = self.folder.parent / path
            target.parent.mkdir(parents=True, exist_ok=True)
            self.writers[name] = pq.ParquetWriter(target, table.schema, compression="zstd")
            self.paths[name], self.rows[name], self.schemas[name] = path, 0, table.schema
        self.writers[name].write_table(table.cast(self.schemas[name]))
        self.rows[name] += table.num_rows

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()

    def entries(self) -> list[dict[str, Any]]:
        return [
            {"table": name, "path": path, "rows": self.rows[name]}
            for name, path in self.paths.items()
        ]


def task_cores() -> int:
    """The cores Spark gave this task (``spark.task.cpus``), for DuckDB's threads."""
    from pyspark import TaskContext

    context = TaskContext.get()
    return max(1, int(context.cpus())) if context is not None else 1


def local_dir() -> str | None:
    """The executor's scratch folder (Spark's local dirs), for spilling and spooling; None
    (the system's temporary folder) outside Spark."""
    dirs = os.environ.get("SPARK_LOCAL_DIRS", "")
    return dirs.split(",")[0] or None
