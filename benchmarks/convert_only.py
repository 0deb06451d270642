"""tracekit's importers doing exactly what the naive script does: files in, one Parquet file out.

No dataset: no dedup, no date partitioning, no atomic commit. bench_import.py runs it beside the
full `tracekit import` to separate the cost of conversion from the cost of the dataset writer.

    python benchmarks/convert_only.py OUT.parquet FILE...
"""

from __future__ import annotations

import sys

import pyarrow.parquet as pq

from tracekit.importers import read_file
from tracekit.schema import SPAN_SCHEMA


def convert(paths: list[str], out: str) -> int:
    """Stream every file's span batches into one Parquet file; returns the row count."""
    rows = 0
    with pq.ParquetWriter(out, SPAN_SCHEMA) as writer:
        for path in paths:
            for batch in read_file(path):
                writer.write_batch(batch)
                rows += batch.num_rows
    return rows


if __name__ == "__main__":
    print(convert(sys.argv[2:], sys.argv[1]))
