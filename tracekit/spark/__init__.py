"""The same analyses on Apache Spark, for traces that outgrow one machine (docs/spark.md).

``spark_analyze(DATASET, RESULTS)`` reads a tracekit dataset (a local path, or any URI Spark's
own filesystems read: ``s3a://``, ``hdfs://``, ``file://``) and writes a result set
(``tracekit.result_set``) that ``tracekit.connect``, ``tracekit sql`` and the reports open like a
dataset. Spark only moves rows; every answer is computed by tracekit's own SQL in DuckDB inside
the tasks, each over a partition holding everything its rows depend on:

1. traces (``trace_stage``): buckets of whole traces (traces joined by span links kept together,
   an oversized trace alone) run the per-trace kernel (``tracekit.per_trace``): spans with their
   self time, the per-trace results, and the per-bucket rows of the grouped views;
2. groups (``group_stage``): the grouped views (latency, dependencies) per
   partition of whole groups, exact;
3. cross-trace (``cross_trace_stage``): the views that learn facts across all traces
   (bottlenecks, lost messages, funnels) by DuckDB over the staged result set on the driver.

``import tracekit.spark`` imports no pyspark: the session is made by ``spark_analyze``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracekit.spark.options import AnalyzeOptions

if TYPE_CHECKING:
    from tracekit.spark.analyze import AnalyzeResult, spark_analyze

__all__ = ["AnalyzeOptions", "AnalyzeResult", "spark_analyze"]


def __getattr__(name: str) -> Any:
    if name in ("spark_analyze", "AnalyzeResult"):
        from tracekit.spark import analyze

        return getattr(analyze, name)
    raise AttributeError(f"module 'tracekit.spark' has no attribute {name!r}")
