"""The Parquet dataset: Hive-partitioned span files plus a manifest that commits them.

Layout::

    DATASET/manifest.json                      schema version, committed files, sources, counts
    DATASET/date=YYYY-MM-DD/part-<uuid>.parquet

A write streams the new batches into a private staging folder, lets DuckDB drop rows whose
``(trace_id, span_id)`` is already stored (or repeated in the batch), writes the survivors as new
part files per UTC date, moves them into place and finally replaces ``manifest.json`` by an
atomic rename. The manifest is the commit point: readers only read the files it lists, so a crash
or an error at any step leaves the dataset exactly as it was (leftovers are swept on the next
write). A lock file serialises writers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tracekit.errors import UserError
from tracekit.schema import SCHEMA_VERSION, SPAN_SCHEMA
from tracekit.sqlfiles import load_sql, quote_literal

MANIFEST = "manifest.json"
FORMAT = "tracekit-dataset"
_STAGING_PREFIX = ".staging-"
_ROWS_PER_STAGING_FILE = 50_000
# DuckDB only sorts out keys here; beyond this it spills to the staging folder.
_DUCKDB_MEMORY = "512MB"
# Writes with at most this many keys (staged, plus stored on the dates written) find the rows to
# keep in memory with pyarrow, in a few ms; larger ones with DuckDB, which reads the key files
# within _DUCKDB_MEMORY and spills, but costs ~50 ms to start. Up to here the in-memory way also
# needs less memory than starting DuckDB (measured peak RSS growth: 82 MB against 99 MB at 200k
# keys; 149 MB against 131 MB at 480k). An export commits a few thousand spans at a time. Both
# keep the same rows (tests/test_dataset.py).
_IN_MEMORY_KEYS = 200_000
_ROW_GROUP_SIZE = 122_880
# threads copying kept rows into Parquet (each writes its own file per date)
_COPY_THREADS = min(4, len(os.sched_getaffinity(0)))


@dataclass(frozen=True)
class WriteResult:
    """What one write did: rows offered, rows added, rows dropped as already stored/repeated."""

    offered: int
    added: int
    files: int

    @property
    def duplicates(self) -> int:
        return self.offered - self.added


def read_manifest(dataset: str | os.PathLike[str]) -> dict[str, Any]:
    """The dataset's manifest; an empty one when the folder holds no dataset yet.

    Raises UserError when the folder exists but is not a tracekit dataset we can read.
    """
    path = Path(dataset) / MANIFEST
    if not path.exists():
        return _empty_manifest()
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable dataset manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError(f"{path}: not a tracekit dataset manifest")
    problem = _manifest_problem(manifest)
    if problem is not None:
        raise UserError(f"{path}: damaged dataset manifest: {problem}")
    if manifest.get("schema_version", 0) > SCHEMA_VERSION:
        raise UserError(
            f"{path}: dataset schema version {manifest['schema_version']} is newer than this "
            f"tracekit understands ({SCHEMA_VERSION}); upgrade tracekit"
        )
    return manifest


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a manifest (edited by hand, or by another tool), or None:
    every reader indexes into it and would otherwise end in a traceback."""
    version = manifest.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        return f"schema_version is {version!r}, not a number"
    for key in ("files", "sources"):
        if not isinstance(manifest.get(key), list):
            return f"{key} is {manifest.get(key)!r}, not a list"
    for index, entry in enumerate(manifest["files"]):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and isinstance(entry.get("date"), str)
            and type(entry.get("rows")) is int
        ):
            return f"files[{index}] is not {{path, date, rows}}: {entry!r:.80}"
    if not all(isinstance(source, dict) for source in manifest["sources"]):
        return "sources holds an entry that is not an object"
    if not isinstance(manifest.get("counts"), dict):
        return f"counts is {manifest.get('counts')!r}, not an object"
    return None


def dataset_files(
    dataset: str | os.PathLike[str], manifest: dict[str, Any] | None = None
) -> list[str]:
    """Absolute paths of the committed Parquet files, in manifest order."""
    root = Path(dataset)
    if manifest is None:
        manifest = read_manifest(root)
    return [str(root / entry["path"]) for entry in manifest["files"]]


def open_dataset(dataset: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """The dataset folder and its manifest, or a UserError when it holds no tracekit dataset."""
    root = Path(dataset)
    if not (root / MANIFEST).exists():
        raise UserError(
            f"{root}: no tracekit dataset here (no {MANIFEST}); create one with "
            "`tracekit import`, `tracekit simulate` or `tracekit export`"
        )
    return root, read_manifest(root)


def require_dataset(dataset: str | os.PathLike[str]) -> Path:
    """The dataset folder, or a UserError when it holds no tracekit dataset."""
    return open_dataset(dataset)[0]


def write_spans(
    dataset: str | os.PathLike[str],
    batches: Iterable[pa.RecordBatch | pa.Table],
    *,
    source: dict[str, Any] | None = None,
    manifest_update: Callable[[dict[str, Any]], None] | None = None,
) -> WriteResult:
    """Append span batches to the dataset atomically, skipping rows already stored.

    ``batches`` must carry the columns of ``tracekit.schema.SPAN_SCHEMA`` (they are cast to it).
    They are streamed, never held all at once. ``source`` is recorded in the manifest's
    ``sources`` list with the counts of this write. ``manifest_update`` may change the manifest
    (e.g. export state) in the same commit. An exception from the batches iterator aborts the
    write and leaves the dataset untouched.

    >>> write_spans("data/ds", [table], source={"kind": "import"})  # doctest: +SKIP
    WriteResult(offered=12, added=12, files=1)
    """
    root = Path(dataset)
    root.mkdir(parents=True, exist_ok=True)
    with _writer_lock(root):
        manifest = read_manifest(root)
        _sweep_leftovers(root, manifest)
        staging = root / f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            offered, staged = _stage(batches, staging / "in")
            new_entries: list[dict[str, Any]] = []
            if offered:
                new_entries = _dedup_and_partition(root, manifest, staged, offered, staging / "out")
            added = sum(entry["rows"] for entry in new_entries)
            for entry in new_entries:
                target = root / entry["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / "out" / entry["path"], target)
            manifest["files"].extend(new_entries)
            manifest["counts"] = {
                "spans": sum(entry["rows"] for entry in manifest["files"]),
                "files": len(manifest["files"]),
            }
            if source is not None:
                manifest["sources"].append(
                    {**source, "spans": offered, "added": added, "at": _now()}
                )
            if manifest_update is not None:
                manifest_update(manifest)
            manifest["updated"] = _now()
            _write_json_atomic(root / MANIFEST, manifest)
            return WriteResult(offered=offered, added=added, files=len(new_entries))
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def update_manifest(
    dataset: str | os.PathLike[str], change: Callable[[dict[str, Any]], None]
) -> None:
    """Change the manifest atomically without writing spans (e.g. to record export progress)."""
    write_spans(dataset, [], manifest_update=change)


def _empty_manifest() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "created": _now(),
        "updated": None,
        "files": [],
        "sources": [],
        "counts": {"spans": 0, "files": 0},
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _stage(batches: Iterable[pa.RecordBatch | pa.Table], folder: Path) -> tuple[int, list[str]]:
    """Stream batches into staging files of bounded size; returns rows and the file stems.

    Each stem has an uncompressed Arrow IPC file with the rows (read back memory-mapped, once)
    and a small Parquet file with just their keys, which DuckDB reads to decide what to keep.
    """
    folder.mkdir()
    stems: list[str] = []
    rows = 0
    writer: pa.ipc.RecordBatchFileWriter | None = None
    keys: list[pa.Table] = []
    rows_in_file = 0

    def close() -> None:
        if writer is not None:
            writer.close()
            pq.write_table(pa.concat_tables(keys), stems[-1] + ".keys.parquet", compression="none")
            keys.clear()

    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            table = _conform(batch)
            if writer is None or rows_in_file >= _ROWS_PER_STAGING_FILE:
                close()
                stems.append(str(folder / f"{len(stems):05d}"))
                writer = pa.ipc.new_file(stems[-1] + ".arrow", SPAN_SCHEMA)
                rows_in_file = 0
            writer.write_table(table)
            keys.append(table.select(["trace_id", "span_id", "start_time"]))
            rows_in_file += table.num_rows
            rows += table.num_rows
        close()
    except BaseException:
        if writer is not None and keys:
            writer.close()  # release the file; the staging folder is removed by the caller
        raise
    return rows, stems


def _conform(batch: pa.RecordBatch | pa.Table) -> pa.Table:
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    if table.schema.equals(SPAN_SCHEMA):
        return table
    missing = [name for name in SPAN_SCHEMA.names if name not in table.schema.names]
    if missing:
        raise ValueError(f"span batch lacks columns {missing}")
    return table.select(SPAN_SCHEMA.names).cast(SPAN_SCHEMA)


def _dedup_and_partition(
    root: Path, manifest: dict[str, Any], staged: list[str], offered: int, out: Path
) -> list[dict[str, Any]]:
    """Write the new, distinct rows of ``staged`` as Parquet files per UTC date.

    DuckDB decides which rows to keep from the key files alone; pyarrow then copies the kept
    rows of one staging file at a time (bounded memory) into the date's file, in input order
    (importers and export give each trace's spans together). Parquet encoding and compression
    release the GIL, so the staging files are split into contiguous runs copied by parallel
    threads, each into its own file per date.
    """
    keep = _rows_to_keep(root, manifest, staged, offered, out.parent)
    wanted = [stem for stem in staged if len(keep[stem])]
    threads = max(1, min(_COPY_THREADS, len(wanted)))
    bounds = [len(wanted) * index // threads for index in range(threads + 1)]
    runs = [
        wanted[start:end] for start, end in zip(bounds, bounds[1:], strict=False) if end > start
    ]
    if len(runs) == 1:
        _copy_rows(runs[0], keep, out)
    elif runs:
        with ThreadPoolExecutor(len(runs), thread_name_prefix="tracekit-copy") as pool:
            for future in [pool.submit(_copy_rows, run, keep, out) for run in runs]:
                future.result()
    entries = []
    for part_path in sorted(out.glob("date=*/*.parquet")):
        count = pq.ParquetFile(part_path).metadata.num_rows
        entries.append(
            {
                "path": f"{part_path.parent.name}/{part_path.name}",
                "date": part_path.parent.name[5:],
                "rows": count,
            }
        )
    return entries


def _copy_rows(stems: list[str], keep: dict[str, Any], out: Path) -> None:
    """Copy the kept rows of the staging files ``stems``, in order, into one new Parquet file
    per UTC date under ``out``."""
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for stem in stems:
            rows = keep[stem]
            with pa.memory_map(stem + ".arrow") as source:
                table = pa.ipc.open_file(source).read_all()
                if len(rows) < table.num_rows:
                    table = table.take(pa.array(rows))
                days, distinct, names = _dates(table["start_time"])
                for date, day in zip(distinct, names, strict=True):
                    part = table if len(names) == 1 else table.filter(pc.equal(days, date))
                    if day not in writers:
                        target = out / f"date={day}" / f"part-{uuid.uuid4().hex}.parquet"
                        target.parent.mkdir(parents=True, exist_ok=True)
                        writers[day] = pq.ParquetWriter(target, SPAN_SCHEMA, compression="zstd")
                    writers[day].write_table(part, row_group_size=_ROW_GROUP_SIZE)
    finally:
        for writer in writers.values():
            writer.close()


def _dates(start_times: pa.ChunkedArray) -> tuple[Any, pa.Array, list[str]]:
    """Each row's UTC date, the distinct dates, and their names as partitions spell them
    (``2026-01-05``), formatted once each: a cast is ~30x cheaper than strftime per row."""
    days = pc.cast(start_times, pa.date32())
    distinct = pc.unique(days)
    return days, distinct, pc.strftime(distinct, format="%Y-%m-%d").to_pylist()


def _rows_to_keep(
    root: Path, manifest: dict[str, Any], staged: list[str], offered: int, scratch: Path
) -> dict[str, Any]:
    """Per staging stem, the sorted row numbers to keep (numpy int64 arrays): the rows whose
    (trace_id, span_id) is not stored yet, each key once, the first in the order given."""
    if offered <= _IN_MEMORY_KEYS:
        keys = [pq.ParquetFile(stem + ".keys.parquet").read() for stem in staged]
        existing = _stored_files(root, manifest, _dates(pa.concat_tables(keys)["start_time"])[2])
        if offered + sum(rows for _, rows in existing) <= _IN_MEMORY_KEYS:
            return _keep_in_memory(staged, keys, [path for path, _ in existing])
    return _keep_with_duckdb(root, manifest, staged, scratch)


def _stored_files(root: Path, manifest: dict[str, Any], dates: list[str]) -> list[tuple[str, int]]:
    """The stored files (path, rows) of ``dates``: rows of one (trace_id, span_id) always share
    a start date, so only they can hold keys of rows starting on those dates."""
    wanted = set(dates)
    return [
        (str(root / entry["path"]), entry["rows"])
        for entry in manifest["files"]
        if entry["date"] in wanted
    ]


def _keep_in_memory(staged: list[str], keys: list[pa.Table], stored: list[str]) -> dict[str, Any]:
    """keep_rows.sql's answer for keys that fit in memory, with pyarrow and numpy."""
    ids = _key_ids(pa.concat_tables(keys))
    keep = np.zeros(len(ids), bool)
    _, first = np.unique(pc.dictionary_encode(ids).indices.to_numpy(), return_index=True)
    keep[first] = True
    if stored:
        columns = ["trace_id", "span_id"]
        known = pa.concat_tables([pq.ParquetFile(path).read(columns=columns) for path in stored])
        keep &= ~pc.is_in(ids, value_set=_key_ids(known)).to_numpy(False)
    bounds = np.cumsum([0] + [table.num_rows for table in keys])
    return {
        stem: np.flatnonzero(keep[bounds[index] : bounds[index + 1]]).astype(np.int64)
        for index, stem in enumerate(staged)
    }


def _key_ids(keys: pa.Table) -> pa.Array:
    """One text per (trace_id, span_id), distinct for distinct pairs: the trace id's length
    first, so no id can run into the other."""
    trace_ids = keys["trace_id"]
    length = pc.cast(pc.utf8_length(trace_ids), pa.string())
    return pc.binary_join_element_wise(length, trace_ids, keys["span_id"], "/").combine_chunks()


def _keep_with_duckdb(
    root: Path, manifest: dict[str, Any], staged: list[str], scratch: Path
) -> dict[str, Any]:
    """keep_rows.sql run by DuckDB on the key files, within a memory limit (spilling to
    ``scratch``)."""
    import duckdb  # here, not at import: the importers' worker processes never need it

    con = duckdb.connect()
    try:
        con.execute(f"SET temp_directory = {quote_literal(str(scratch / 'spill'))}")
        con.execute(f"SET memory_limit = {quote_literal(_DUCKDB_MEMORY)}")
        con.execute(
            "CREATE TEMP VIEW staged_keys AS SELECT trace_id, span_id, start_time, "
            "parse_path(filename)[-1] AS filename, file_row_number FROM read_parquet("
            f"{_list_literal([stem + '.keys.parquet' for stem in staged])}, "
            "filename = true, file_row_number = true)"
        )
        dates = [
            str(row[0])
            for row in con.execute(
                "SELECT DISTINCT CAST(start_time AS DATE) FROM staged_keys"
            ).fetchall()
        ]
        existing = [path for path, _ in _stored_files(root, manifest, dates)]
        if existing:
            con.execute(
                "CREATE TEMP VIEW stored_keys AS SELECT trace_id, span_id "
                f"FROM read_parquet({_list_literal(existing)})"
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
            keep[stem] = rows
        expected = con.execute("SELECT count(*) FROM keep_rows").fetchone()
        if expected is None or expected[0] != sum(len(rows) for rows in keep.values()):
            raise RuntimeError("staged rows to keep do not match their files")  # a bug, not input
        return keep
    finally:
        con.close()


def _list_literal(paths: list[str]) -> str:
    return "[" + ", ".join(quote_literal(path) for path in paths) + "]"


def _sweep_leftovers(root: Path, manifest: dict[str, Any]) -> None:
    """Remove staging folders and part files an interrupted write left behind."""
    committed = {entry["path"] for entry in manifest["files"]}
    for child in root.iterdir():
        if child.name.startswith(_STAGING_PREFIX):
            shutil.rmtree(child, ignore_errors=True)
        elif child.is_dir() and child.name.startswith("date="):
            for part in child.glob("*.parquet"):
                if f"{child.name}/{part.name}" not in committed:
                    part.unlink()


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w") as handle:
        json.dump(payload, handle, indent=1, sort_keys=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def _writer_lock(root: Path) -> Iterator[None]:
    with open(root / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise UserError(f"{root}: another tracekit process is writing this dataset") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
