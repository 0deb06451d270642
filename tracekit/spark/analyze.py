"""``spark_analyze``: a dataset's results computed on Spark, written as a result set."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracekit.dataset.manifest import SPANS, Manifest, PartFile, Source, now_iso, write_manifest
from tracekit.dataset.writer import writer_lock
from tracekit.errors import UserError
from tracekit.result_set import GLOBAL, ResultSet, ResultTable
from tracekit.schema import SCHEMA_VERSION
from tracekit.spark.buckets import BUCKET, PARTITION_KEY, BucketPlan, plan_buckets
from tracekit.spark.commit import commit, new_staging, result_folder
from tracekit.spark.cross_trace_stage import run_cross_trace_stage
from tracekit.spark.group_stage import combine, grouped_results, run_group_stage
from tracekit.spark.options import AnalyzeOptions
from tracekit.spark.session import first_line, spark_session
from tracekit.spark.source import (
    SourceDataset,
    local_root,
    open_local_source,
    open_source,
    read_spans,
)
from tracekit.spark.trace_stage import RECORD_DDL, TASK_ERROR, TraceTask

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Progress = Callable[[str], None]
SPANS_PER_SHUFFLE_TASK = 1_000_000


@dataclass(frozen=True)
class AnalyzeResult:
    """What a run did: where the results are, what it read, how it cut the work, what it
    computed, and the seconds of each stage."""

    out: Path
    source: str
    plan: BucketPlan
    tables: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def spark_analyze(
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    spark: SparkSession | None = None,
    options: AnalyzeOptions | None = None,
    progress: Progress | None = None,
) -> AnalyzeResult:
    """Compute ``dataset``'s results on Spark and write them as a result set at ``out``.

    ``dataset`` is a folder or a URI Spark reads (``s3a://...``, ``hdfs://...``); ``out`` a
    folder that the driver and every executor can write (created; an earlier result set there
    is replaced, anything else refused). ``spark`` is a session to use; otherwise one is made on
    ``master`` with ``conf`` and stopped at the end. See ``AnalyzeOptions`` for the knobs.

    >>> spark_analyze("data/ql", "results/ql", master="local[4]")  # doctest: +SKIP
    >>> tracekit.connect("results/ql").sql("SELECT * FROM spark.bottlenecks")  # doctest: +SKIP
    """
    options = options or AnalyzeOptions()
    say = progress or (lambda message: None)
    dataset, out = os.fspath(dataset), os.fspath(out)
    local = local_root(dataset)
    # a local dataset and the result folder are checked before Spark starts (a mistake is one
    # line, not a JVM's start-up and then one line)
    source = open_local_source(local, dataset) if local is not None else None
    root = result_folder(out, local)
    own_session = spark is None
    if spark is None:
        say(f"starting Spark ({master or 'default master'})")
        spark = spark_session(master, {"spark.sql.session.timeZone": "UTC", **(conf or {})})
    else:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    try:
        source = source or open_source(spark, dataset)
        with writer_lock(root):
            staging = new_staging(root)
            try:
                return _run(spark, source, root, staging, options, say)
            except BaseException:
                import shutil

                shutil.rmtree(staging, ignore_errors=True)
                raise
    finally:
        if own_session:
            spark.stop()


def _run(
    spark: SparkSession,
    source: SourceDataset,
    root: Path,
    staging: Path,
    options: AnalyzeOptions,
    say: Progress,
) -> AnalyzeResult:
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 2)
        clock = now

    say(f"planning buckets of whole traces over {source.spans:,} spans")
    # Spark's default of 200 shuffle partitions makes 200 tasks of every aggregation the plan
    # runs (~100 s of task overhead on a 515-span dataset); one per core, or per million spans
    spark.conf.set(
        "spark.sql.shuffle.partitions",
        str(max(spark.sparkContext.defaultParallelism, source.spans // SPANS_PER_SHUFFLE_TASK)),
    )
    plan, rows = plan_buckets(spark, read_spans(spark, source), options)
    lap("plan")
    say(
        f"traces: {plan.traces:,} traces in {plan.buckets} buckets, {plan.partitions} tasks "
        f"({len(plan.oversized)} oversized)"
    )
    try:
        records = _collect(
            rows.repartition(plan.partitions, PARTITION_KEY)
            .sortWithinPartitions(BUCKET)
            .drop(PARTITION_KEY)
            .mapInArrow(TraceTask(str(staging), options), RECORD_DDL)
        )
    finally:
        plan.release()
    lap("traces")
    parts = [PartFile.from_json(record) for record in records if record["kind"] == "part"]
    inputs: dict[str, list[str]] = {}
    for record in records:
        if record["kind"] in ("part", "fact"):
            inputs.setdefault(record["table"], []).append(record["path"])
    tasks = [record for record in records if record["kind"] == "task"]
    manifest = Manifest(files=parts, schema_version=SCHEMA_VERSION)
    manifest.record_source(
        Source(
            kind="spark-analyze",
            spans=plan.spans,
            added=sum(entry.rows for entry in parts if entry.table == SPANS),
            at=now_iso(),
            details={"dataset": source.uri},
        )
    )
    write_manifest(staging, manifest)

    say("groups: latency and dependencies, a task per set of whole groups")
    group_files = run_group_stage(spark, staging, inputs, options, plan.partitions)
    tables: dict[str, pa.Table] = {}
    for result in grouped_results(options):
        if result.source not in inputs:
            continue
        schema = pq.read_schema(staging / inputs[result.source][0])
        tables[result.name] = combine(staging, result, group_files.get(result.name, []), schema)
    lap("groups")

    say("cross-trace: bottlenecks, lost messages and funnels on the driver")
    found, skipped, stored = run_cross_trace_stage(staging, options)
    tables.update(found)
    manifest.replace_files(stored, [])
    lap("cross_trace")

    results = ResultSet(
        source=source.uri,
        engine=f"spark {spark.version}",
        created=now_iso(),
        skipped=skipped,
        stats={
            "spans": plan.spans,
            "traces": plan.traces,
            "buckets": plan.buckets,
            "tasks": plan.partitions,
            "bucket_spans": options.bucket_spans,
            "largest_bucket": max((int(task["largest"]) for task in tasks), default=0),
            "spooled_buckets": sum(int(task["spooled"]) for task in tasks),
            "oversized_traces": [{"unit": unit, "spans": n} for unit, n in plan.oversized],
            "linked_traces": plan.linked_traces,
            "straddling_traces": plan.straddling_traces,
            "split_buckets": plan.split_buckets,
            "task_seconds": round(sum(float(task["seconds"]) for task in tasks), 2),
            "seconds": seconds,
        },
    )
    for name, table in tables.items():
        path = f"{GLOBAL}/{name}/part-{uuid.uuid4().hex}.parquet"
        (staging / path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, staging / path, compression="zstd")
        results.tables[name] = ResultTable(name=name, files=(path,), rows=table.num_rows)
    commit(root, staging, manifest, results)
    lap("commit")
    return AnalyzeResult(
        out=root,
        source=source.uri,
        plan=plan,
        tables=tuple(sorted(results.tables)),
        skipped=skipped,
        seconds=seconds,
    )


def _collect(frame: Any) -> list[dict[str, Any]]:
    """The rows of a stage's records; a task's own error as one line."""
    try:
        return [row.asDict() for row in frame.collect()]
    except Exception as exc:
        text = str(exc)
        if TASK_ERROR in text:
            line = text[text.index(TASK_ERROR) :].splitlines()[0]
            raise UserError(line.removeprefix(TASK_ERROR).strip()) from None
        raise UserError(f"Spark: {first_line(exc)}") from exc
