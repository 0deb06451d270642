"""Which staged rows a write keeps: those whose (trace_id, span_id) is not stored yet, each key
once, the first in the order given (``tracekit/sql/dataset/keep_rows.sql`` states the rule)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tracekit.dataset.manifest import SPANS, Manifest
from tracekit.dataset.staging import dates, read_keys
from tracekit.sqlfiles import load_sql, quote_literal

if TYPE_CHECKING:
    import duckdb

# Writes with at most this many keys (staged, plus stored on the dates written) find the rows to
# keep in memory with pyarrow, in a few ms; larger ones with DuckDB, which reads the key files
# within _DUCKDB_MEMORY and spills, but costs ~50 ms to start. Up to here the in-memory way also
# needs less memory than starting DuckDB (measured peak RSS growth: 82 MB against 99 MB at 200k
# keys; 149 MB against 131 MB at 480k). An export commits a few thousand spans at a time. Both
# keep the same rows (tests/test_dataset.py).
IN_MEMORY_KEYS = 200_000

Keep = dict[str, np.ndarray]


def rows_to_keep(
    root: Path,
    manifest: Manifest,
    staged: list[str],
    offered: int,
    con: duckdb.DuckDBPyConnection,
) -> Keep:
    """Per staging stem, the sorted row numbers to keep (numpy int64 arrays). ``con`` is the
    write's DuckDB connection (its memory budget and spill folder set), used for large writes."""
    if offered <= IN_MEMORY_KEYS:
        keys = [read_keys(stem) for stem in staged]
        existing = stored_files(root, manifest, dates(pa.concat_tables(keys)["start_time"])[2])
        if offered + sum(rows for _, rows in existing) <= IN_MEMORY_KEYS:
            return _keep_in_memory(staged, keys, [path for path, _ in existing])
    return _keep_with_duckdb(root, manifest, staged, con)


def stored_files(root: Path, manifest: Manifest, day_names: list[str]) -> list[tuple[str, int]]:
    """The stored span files (path, rows) of the dates ``day_names``: rows of one
    (trace_id, span_id) always share a start date, so only they can hold keys of those dates."""
    wanted = set(day_names)
    return [
        (str(root / entry.path), entry.rows)
        for entry in manifest.table_files(SPANS)
        if entry.date in wanted
    ]


def _keep_in_memory(staged: list[str], keys: list[pa.Table], stored: list[str]) -> Keep:
    """keep_rows.sql's answer for keys that fit in memory, with pyarrow and numpy."""
    ids = key_ids(pa.concat_tables(keys))
    keep = np.zeros(len(ids), bool)
    _, first = np.unique(pc.dictionary_encode(ids).indices.to_numpy(), return_index=True)
    keep[first] = True
    if stored:
        columns = ["trace_id", "span_id"]
        known = pa.concat_tables([pq.ParquetFile(path).read(columns=columns) for path in stored])
        keep &= ~pc.is_in(ids, value_set=key_ids(known)).to_numpy(False)
    bounds = np.cumsum([0] + [table.num_rows for table in keys])
    return {
        stem: np.flatnonzero(keep[bounds[index] : bounds[index + 1]]).astype(np.int64)
        for index, stem in enumerate(staged)
    }


def key_ids(keys: pa.Table) -> pa.Array:
    """One text per (trace_id, span_id), distinct for distinct pairs: the trace id's length
    first, so no id can run into the other."""
    trace_ids = keys["trace_id"]
    length = pc.cast(pc.utf8_length(trace_ids), pa.string())
    return pc.binary_join_element_wise(length, trace_ids, keys["span_id"], "/").combine_chunks()


def _keep_with_duckdb(
    root: Path, manifest: Manifest, staged: list[str], con: duckdb.DuckDBPyConnection
) -> Keep:
    """keep_rows.sql run by DuckDB on the key files, within ``con``'s memory budget."""
    try:
        con.execute(
            "CREATE TEMP VIEW staged_keys AS SELECT trace_id, span_id, start_time, "
            "parse_path(filename)[-1] AS filename, file_row_number FROM read_parquet("
            f"{list_literal([stem + '.keys.parquet' for stem in staged])}, "
            "filename = true, file_row_number = true)"
        )
        day_names = [
            str(row[0])
            for row in con.execute(
                "SELECT DISTINCT CAST(start_time AS DATE) FROM staged_keys"
            ).fetchall()
        ]
        existing = [path for path, _ in stored_files(root, manifest, day_names)]
        if existing:
            con.execute(
                "CREATE TEMP VIEW stored_keys AS SELECT trace_id, span_id "
                f"FROM read_parquet({list_literal(existing)})"
            )
        else:
            con.execute(
                "CREATE TEMP VIEW stored_keys AS SELECT NULL::VARCHAR AS trace_id, "
                "NULL::VARCHAR AS span_id WHERE false"
            )
        con.execute(load_sql("dataset/keep_rows.sql"))
        keep = {}
        for stem in staged:
            rows = con.execute(
                "SELECT file_row_number FROM keep_rows WHERE filename = ? ORDER BY 1",
                [Path(stem).name + ".keys.parquet"],
            ).fetchnumpy()["file_row_number"]
            keep[stem] = np.asarray(rows, dtype=np.int64)
        ((expected,),) = con.execute("SELECT count(*) FROM keep_rows").fetchall()
        if expected != sum(len(rows) for rows in keep.values()):
            raise RuntimeError("staged rows to keep do not match their files")  # a bug, not input
        return keep
    finally:
        con.execute("DROP TABLE IF EXISTS keep_rows")
        con.execute("DROP VIEW IF EXISTS staged_keys")
        con.execute("DROP VIEW IF EXISTS stored_keys")


def list_literal(paths: list[str]) -> str:
    return "[" + ", ".join(quote_literal(path) for path in paths) + "]"
