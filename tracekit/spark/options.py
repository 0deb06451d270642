"""What a Spark run may be tuned with (``tracekit spark-analyze`` flags, ``spark_analyze``)."""

from __future__ import annotations

from dataclasses import dataclass

# Spans per bucket of a Spark task (the dataset writer's are smaller, 32k, for a one-machine
# import's peak): the per-trace SQL of ~64k spans held ~300 MB in DuckDB, within a task's share
# of a 1-2 GB executor.
DEFAULT_BUCKET_SPANS = 64_000
# A trace stage task handles this many spans (a few buckets in a row): ~1-2 minutes of one core
# at the throughput measured in docs/benchmarks.md ("Spark"), few files per date.
DEFAULT_TASK_SPANS = 2_000_000
DEFAULT_TASK_MEMORY = "1GB"


@dataclass(frozen=True)
class AnalyzeOptions:
    """``bucket_spans``: spans per bucket of whole traces, the unit the per-trace kernel holds in
    memory; a trace (with the traces linked to it) of more spans is an oversized trace and gets a
    bucket of its own, spooled to the task's local disk. ``task_spans``: spans per trace-stage
    task (its buckets run one after another, their files are shared). ``task_memory``: DuckDB's
    memory budget in each task (it spills beyond it to the executor's local disk); DuckDB uses
    the task's cores (``spark.task.cpus``).
    ``flows``: the funnels computed (built-in flow names or YAML files; None: every built-in).
    ``driver_memory``: DuckDB's budget for the cross-trace stage on the driver (None: connect's
    default, half the machine)."""

    bucket_spans: int = DEFAULT_BUCKET_SPANS
    task_spans: int = DEFAULT_TASK_SPANS
    task_memory: str = DEFAULT_TASK_MEMORY
    flows: tuple[str, ...] | None = None
    driver_memory: str | None = None
