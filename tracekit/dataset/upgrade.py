"""Upgrading a dataset written by an older tracekit: its per-trace results computed and stored.

Schema version 1 stored span rows only. From version 2 the span files also hold each span's
self time and the per-trace results are stored beside them; an older dataset is upgraded by
``tracekit upgrade`` or on its first write, in one atomic commit like any write.
"""

from __future__ import annotations

import math
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa

from tracekit.cross_trace import CROSS_TRACE_VIEWS
from tracekit.dataset.manifest import SPANS, Manifest, read_manifest
from tracekit.dataset.writer import (
    ROWS_PER_BUCKET,
    SPAN_NAMES,
    STAGING_PREFIX,
    Change,
    PartWriters,
    commit,
    sweep,
    time_buckets,
    write_cross_trace,
    writer_lock,
)
from tracekit.per_trace import SELF_US, compute_per_trace
from tracekit.sqlfiles import quote_literal


def upgrade(dataset: str | os.PathLike[str]) -> bool:
    """Compute and store the per-trace results of a dataset written by an older tracekit;
    returns whether anything changed (False when they are stored already)."""
    root = Path(dataset)
    with writer_lock(root):
        manifest = read_manifest(root)
        sweep(root, manifest)
        if not manifest.derived:
            upgrade_locked(root, manifest)
            return True
        if not manifest.files or all(manifest.table_files(name) for name in CROSS_TRACE_VIEWS):
            return False
        # written before the cross-trace results were stored: only those are computed
        staging = root / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        (staging / "out").mkdir(parents=True)
        try:
            change = Change(folder=staging / "out")
            write_cross_trace(root, manifest, change, staging)
            commit(root, manifest, change)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return True


def upgrade_locked(root: Path, manifest: Manifest) -> None:
    """Rewrite every stored span with its self time and store every per-trace result, reading
    the traces in buckets of about ROWS_PER_BUCKET spans (a trace is whole in its bucket). One
    pass first sorts the spans into a file per bucket in the staging folder (the dataset's
    spans once more on disk until the commit): reading every file once per bucket made 100 days
    (22M spans, 90 buckets) take more than 20 minutes."""
    import duckdb

    staging = root / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    out = staging / "out"
    out.mkdir(parents=True)
    try:
        files = [str(root / entry.path) for entry in manifest.table_files(SPANS)]
        spans = sum(entry.rows for entry in manifest.table_files(SPANS))
        buckets = max(1, math.ceil(spans / ROWS_PER_BUCKET))
        writers = PartWriters(out)
        con = duckdb.connect(config={"temp_directory": str(staging / "spill")})
        try:
            listing = "[" + ", ".join(quote_literal(path) for path in files) + "]"
            source = f"read_parquet({listing}, union_by_name = true)"
            columns = ", ".join(SPAN_NAMES)
            sorted_out = staging / "buckets"
            firsts = con.sql(
                f"SELECT trace_id, min(start_time) AS first, count(*) AS spans FROM {source} "
                "GROUP BY trace_id"
            ).to_arrow_table()
            trace_buckets = pa.table(
                {
                    "trace_id": firsts["trace_id"],
                    "bucket": time_buckets(firsts["first"], firsts["spans"], buckets),
                }
            )
            del firsts
            con.register("trace_buckets", trace_buckets)
            con.execute(
                f"COPY (SELECT {columns}, bucket FROM {source} "
                "JOIN trace_buckets USING (trace_id)) "
                f"TO {quote_literal(str(sorted_out))} (FORMAT parquet, PARTITION_BY (bucket))"
            )
            for bucket in range(buckets):
                part = sorted_out / f"bucket={bucket}"
                if not part.exists():
                    continue
                # a span repeated across files (leftovers of an interrupted write, adopted by
                # `tracekit repair`) is kept once, the longest
                table = con.sql(
                    f"SELECT {columns} FROM read_parquet({quote_literal(str(part / '*.parquet'))}) "
                    "QUALIFY row_number() OVER (PARTITION BY trace_id, span_id "
                    "ORDER BY duration_us DESC, start_time) = 1"
                ).to_arrow_table()
                shutil.rmtree(part)
                if not table.num_rows:
                    continue
                results = compute_per_trace(table, temp_directory=str(staging / "spill"))
                writers.write_spans(table.append_column(SELF_US, results.self_us))
                for name, result in results.tables.items():
                    writers.write_table(name, result)
        finally:
            con.close()
            writers.close()
        change = Change(
            added=writers.entries(),
            removed=[entry.path for entry in manifest.files],
            added_rows=0,
            folder=out,
        )
        write_cross_trace(root, manifest, change, staging)
        commit(root, manifest, change)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
