"""Stage 2, groups: the grouped views over all the data, each group whole in one task.

A grouped view (latency per service and per operation, dependencies per caller and callee)
answers each group from that group's rows alone. Spark hash-partitions its input
rows by the group's columns, so every group lands whole in one task, and the task runs the view
itself (tracekit's SQL, in DuckDB) over its rows: the answer for each group is the one DuckDB
gives on one machine, quantiles included (exact, ``quantile_cont``). A group's rows are held by
one task: the busiest group (e.g. the spans of the busiest operation) bounds a task's memory.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracekit.spark.options import AnalyzeOptions
from tracekit.spark.trace_stage import local_dir, task_cores

if TYPE_CHECKING:
    import duckdb
    from pyspark.sql import SparkSession

GROUPS = "groups"
SPANS_INPUT = "spans"
OUTPUT_SCHEMA = pa.schema([("table", pa.string()), ("path", pa.string()), ("rows", pa.int64())])
OUTPUT_DDL = "table string, path string, rows long"


@dataclass(frozen=True)
class GroupedResult:
    """A whole-data result of a grouped view: read from ``source`` (``spans``, a per-trace
    table or a fact of the trace stage), grouped by ``key``, answered by ``query``."""

    name: str
    source: str
    key: tuple[str, ...]
    query: str
    params: dict[str, Any] = field(default_factory=dict)


def grouped_results(options: AnalyzeOptions) -> tuple[GroupedResult, ...]:
    """The grouped views a run computes."""
    return (
        GroupedResult(
            "latency_by_service",
            "cross_service_spans",
            ("service",),
            "SELECT * FROM latency_by_service",
        ),
        GroupedResult(
            "latency_by_operation",
            SPANS_INPUT,
            ("service", "operation"),
            "SELECT * FROM latency_by_operation",
        ),
        GroupedResult(
            "dependencies", "dependency_calls", ("caller", "callee"), "SELECT * FROM dependencies"
        ),
    )


@dataclass(frozen=True)
class GroupTask:
    """What a group-stage task needs (picklable)."""

    result: GroupedResult
    staging: str
    memory_limit: str
    schema: pa.Schema  # the source's columns; those the query does not read arrive as nulls

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        batches = iter(batches)
        first = next(batches, None)
        if first is None:
            return
        rows = complete(pa.Table.from_batches([first, *batches]), self.schema)
        table = answer(self.result, rows, threads=task_cores(), memory_limit=self.memory_limit)
        del rows
        path = f"{GROUPS}/{self.result.name}/part-{uuid.uuid4().hex}.parquet"
        target = Path(self.staging) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target, compression="zstd")
        yield pa.RecordBatch.from_pylist(
            [{"table": self.result.name, "path": path, "rows": table.num_rows}],
            schema=OUTPUT_SCHEMA,
        )


def complete(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """``rows`` with every column of ``schema``: the ones it lacks as nulls (the query reads
    none of them; its views still name them), each of the schema's type."""
    columns = [
        rows[field.name].cast(field.type)
        if field.name in rows.column_names
        else pa.nulls(rows.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema.remove_metadata())


def read_columns(result: GroupedResult, schema: pa.Schema) -> list[str]:
    """The columns of ``result``'s source (of ``schema``) its query reads, with the group's,
    from DuckDB's own plan over an empty source: the rest need not be shuffled (the spans'
    attribute maps are most of their bytes). All of them when the plan does not say."""
    spill = tempfile.mkdtemp(prefix="tracekit-group-")
    con = _connection(result, schema.empty_table(), threads=1, memory_limit=None, spill=spill)
    try:
        plan = con.execute(
            f"EXPLAIN (FORMAT json) {result.query}", result.params or None
        ).fetchall()
        read: set[str] = set(result.key)
        for node in _plan_nodes(json.loads(plan[0][1])):
            if "ARROW_SCAN" not in str(node.get("name", "")):
                continue
            projections = (node.get("extra_info") or {}).get("Projections")
            if not isinstance(projections, list):
                return list(schema.names)
            read.update(str(name) for name in projections)
    except (ValueError, IndexError, KeyError):
        return list(schema.names)
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    return [name for name in schema.names if name in read]


def _plan_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from _plan_nodes(child)
    elif isinstance(node, list):
        for child in node:
            yield from _plan_nodes(child)


def answer(
    result: GroupedResult,
    rows: pa.Table,
    *,
    threads: int = 1,
    memory_limit: str | None = None,
) -> pa.Table:
    """``result``'s query over ``rows`` (its source's rows of whole groups)."""
    spill = tempfile.mkdtemp(prefix="tracekit-group-", dir=local_dir())
    con = _connection(result, rows, threads=threads, memory_limit=memory_limit, spill=spill)
    try:
        return con.sql(result.query, params=result.params or None).to_arrow_table()
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _connection(
    result: GroupedResult,
    rows: pa.Table,
    *,
    threads: int,
    memory_limit: str | None,
    spill: str,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with every view, where ``result.source`` holds ``rows``."""
    import duckdb

    from tracekit.schema import STORED_SPAN_SCHEMA
    from tracekit.views import create_views

    config: dict[str, Any] = {"threads": threads, "temp_directory": spill}
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(config=config)
    con.register("group_rows", rows)
    spans = rows if result.source == SPANS_INPUT else STORED_SPAN_SCHEMA.empty_table()
    con.register("group_spans", spans)
    con.execute("CREATE VIEW span_rows AS SELECT * EXCLUDE (self_us) FROM group_spans")
    create_views(con)
    con.execute("CREATE OR REPLACE VIEW spans AS SELECT * FROM group_spans")
    if result.source != SPANS_INPUT:
        con.execute(f"CREATE OR REPLACE VIEW {result.source} AS SELECT * FROM group_rows")
    return con


def run_group_stage(
    spark: SparkSession,
    staging: Path,
    inputs: dict[str, list[str]],
    options: AnalyzeOptions,
    partitions: int,
) -> dict[str, list[str]]:
    """Every grouped result over the staged ``inputs`` (source name -> its staged files,
    relative to ``staging``); returns each result's files (relative to ``staging``).

    The results' jobs are submitted together, from a thread each: Spark runs their tasks as
    cores free up, and the driver's planning of one overlaps the others' tasks (on the test
    cluster the stage took 14 s one job after another)."""
    from pyspark.sql import functions as F

    def run(result: GroupedResult) -> list[str]:
        files = [f"file://{(staging / path).resolve()}" for path in inputs[result.source]]
        schema = pq.read_schema(staging / inputs[result.source][0])
        rows = spark.read.parquet(*files).select(*read_columns(result, schema))
        task = GroupTask(result, str(staging), options.task_memory, schema)
        records = (
            rows.repartition(partitions, *[F.col(name) for name in result.key])
            .mapInArrow(task, OUTPUT_DDL)
            .collect()
        )
        return [record["path"] for record in records]

    wanted = [result for result in grouped_results(options) if inputs.get(result.source)]
    with ThreadPoolExecutor(max(1, len(wanted)), thread_name_prefix="tracekit-group") as pool:
        futures = {result.name: pool.submit(run, result) for result in wanted}
        return {name: future.result() for name, future in futures.items()}


def combine(
    staging: Path, result: GroupedResult, parts: list[str], source_schema: pa.Schema
) -> pa.Table:
    """The answers of a result's tasks as one table ordered by its group columns (no task
    had rows: the query's answer over no rows, for the columns)."""
    tables = [pq.read_table(staging / path) for path in parts]
    if not tables:
        return answer(result, source_schema.empty_table())
    table = pa.concat_tables(tables)
    return table.sort_by([(name, "ascending") for name in result.key if name in table.column_names])
