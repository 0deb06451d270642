"""Buckets of whole traces for the trace stage, bounded in size, laid out by date.

A unit is a trace, or the traces joined by span links (a consumer's trace linking to its
producer's): every view that follows a link then finds both ends in one bucket. Each unit goes
to one bucket of its UTC start date (hashed), so a task's buckets, and the span files it writes,
cover few dates. Bounds: a date has ``ceil(spans / bucket_spans)`` hash buckets; a unit of more
than ``bucket_spans`` spans is oversized and gets a bucket of its own (the task spools it to
local disk); a hash bucket that still came out over twice the size (a few big units hashed
together) is split in as many buckets as it needs.

Most traces start and end on one date and link to no other trace: their bucket is a function of
the span row itself (its date and its trace id), so the spans are shuffled once, to their task.
Only linked, date-straddling and oversized traces need a lookup (a join, broadcast when small).
Planning runs three small Spark jobs (one more when traces link, more when many do), each over
the trace ids alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracekit.spark.options import AnalyzeOptions

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

BUCKET = "tracekit_bucket"
PARTITION_KEY = "tracekit_partition"
# Label propagation over linked traces stops after this many rounds (each halves the distance
# with pointer jumping: 2^20 traces in a chain).
MAX_ROUNDS = 20
# Up to this many links between traces are grouped on the driver (one job instead of a Spark
# label propagation's two a round; 200k pairs of ids are ~40 MB of Python objects).
LOCAL_EDGES = 200_000
# Exceptions up to this many traces are broadcast to the tasks rather than joined by a shuffle.
BROADCAST_ROWS = 1_000_000


@dataclass(frozen=True)
class BucketPlan:
    """How the trace stage's work is cut: totals, buckets, tasks, and the traces that needed
    more than the plain hash (linked into groups, straddling dates, oversized units)."""

    spans: int
    traces: int
    buckets: int
    partitions: int
    oversized: tuple[tuple[str, int], ...]
    linked_traces: int
    straddling_traces: int
    split_buckets: int
    # frames the bucketed rows read, cached until the trace stage has run (``release``)
    cached: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    def release(self) -> None:
        for frame in self.cached:
            frame.unpersist()


def plan_buckets(
    spark: SparkSession, spans: DataFrame, options: AnalyzeOptions
) -> tuple[BucketPlan, DataFrame]:
    """The plan, and ``spans`` with its bucket and partition-key columns."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    size = options.bucket_spans
    traces = (
        spans.groupBy("trace_id")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.to_date(F.min("start_time")).alias("first"),
            F.to_date(F.max("start_time")).alias("last"),
            # links to another trace (a consumer's to its producer's): labels needed
            F.max(
                F.exists("links", lambda link: link["trace_id"] != F.col("trace_id")).cast("int")
            ).alias("links"),
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    totals = traces.agg(
        F.sum("n").alias("spans"),
        F.count(F.lit(1)).alias("traces"),
        F.sum((F.col("first") != F.col("last")).cast("long")).alias("straddling"),
        F.max("links").alias("links"),
    ).first()
    assert totals is not None
    labels, linked = _linked_groups(spans) if (totals["links"] or 0) > 0 else (None, 0)
    if labels is not None:
        members = traces.join(labels, traces["trace_id"] == labels["member"], "left").select(
            "trace_id",
            "n",
            "first",
            "last",
            F.coalesce("unit", "trace_id").alias("unit"),
            F.col("unit").isNotNull().alias("linked"),
        )
    else:
        members = traces.select(
            "trace_id", "n", "first", "last", F.col("trace_id").alias("unit"), F.lit(False)
        ).toDF("trace_id", "n", "first", "last", "unit", "linked")
    units = (
        members.groupBy("unit")
        .agg(F.sum("n").alias("n"), F.min("first").alias("date"))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    # one job: per date, the spans of regular units (unit NULL) and each oversized unit
    oversized: list[tuple[Any, str, int]] = []
    per_date: dict[Any, int] = {}
    for row in (
        units.groupBy("date", F.when(F.col("n") > size, F.col("unit")).alias("big"))
        .agg(F.sum("n").alias("n"))
        .collect()
    ):
        if row["big"] is None:
            per_date[row["date"]] = int(row["n"])
        else:
            oversized.append((row["date"], row["big"], int(row["n"])))
    oversized.sort()
    # hash buckets per date, then each oversized unit its own, date by date
    hashed: dict[Any, tuple[int, int]] = {}
    own: dict[str, int] = {}
    next_id = 0
    for date in sorted(set(per_date) | {date for date, _, _ in oversized}):
        count = math.ceil(per_date[date] / size) if date in per_date else 0
        hashed[date] = (next_id, count)
        next_id += count
        for _, unit, _ in (entry for entry in oversized if entry[0] == date):
            own[unit] = next_id
            next_id += 1
    date_plan = spark.createDataFrame(
        [(date, base, count) for date, (base, count) in hashed.items() if count],
        "plan_date date, base long, k long",
    )

    def hash_bucket(unit: Column, date: Column, frame: DataFrame) -> DataFrame:
        """``frame`` with ``h``: its unit's hash bucket among its date's."""
        joined = frame.join(F.broadcast(date_plan), date == date_plan["plan_date"], "left")
        return joined.withColumn("h", F.col("base") + F.pmod(F.xxhash64(unit), F.col("k"))).drop(
            "plan_date", "base", "k"
        )

    regular = hash_bucket(F.col("unit"), F.col("date"), units.where(F.col("n") <= size))
    sizes = {
        row["h"]: row["n"] for row in regular.groupBy("h").agg(F.sum("n").alias("n")).collect()
    }
    splits = {h: math.ceil(n / size) for h, n in sizes.items() if n > 2 * size}
    # final ids: hash buckets in order, a split one taking as many ids as its parts
    offsets: dict[int, tuple[int, int]] = {}
    buckets = 0
    for h in range(next_id):
        parts = splits.get(h, 1)
        offsets[h] = (buckets, parts)
        buckets += parts
    split_plan = spark.createDataFrame(
        [(h, offset, parts) for h, (offset, parts) in offsets.items()],
        "h long, offset long, parts long",
    )

    def final_bucket(unit: Column, frame: DataFrame) -> DataFrame:
        """``frame`` with its final bucket id (a split hash bucket's part), ``h`` dropped."""
        joined = frame.join(F.broadcast(split_plan), "h", "left")
        part = F.when(F.col("parts") > 1, F.pmod(F.xxhash64(unit, F.lit(1)), F.col("parts")))
        return joined.withColumn(BUCKET, F.col("offset") + part.otherwise(F.lit(0))).drop(
            "h", "offset", "parts"
        )

    own_frame = spark.createDataFrame(
        [(unit, offsets[h][0]) for unit, h in own.items()], "unit string, own long"
    )
    # every unit's bucket, by the same expressions the span rows of plain traces get below
    unit_buckets = final_bucket(F.col("unit"), hash_bucket(F.col("unit"), F.col("date"), units))
    unit_buckets = unit_buckets.join(F.broadcast(own_frame), "unit", "left").select(
        "unit", F.coalesce("own", BUCKET).alias("unit_bucket")
    )
    # the traces whose bucket their span rows alone do not give
    exceptions = (
        members.where(F.col("linked") | (F.col("first") != F.col("last")) | (F.col("n") > size))
        .join(unit_buckets, "unit")
        .select(F.col("trace_id").alias("exception_trace_id"), "unit_bucket")
    )
    # at most the linked, straddling and oversized traces
    if linked + int(totals["straddling"] or 0) + len(oversized) <= BROADCAST_ROWS:
        exceptions = F.broadcast(exceptions)
    rows = final_bucket(
        F.col("trace_id"), hash_bucket(F.col("trace_id"), F.to_date("start_time"), spans)
    )
    rows = rows.join(exceptions, rows["trace_id"] == exceptions["exception_trace_id"], "left")
    rows = rows.select(*spans.columns, F.coalesce("unit_bucket", BUCKET).alias(BUCKET))

    partitions = max(
        1,
        min(
            buckets,
            max(
                math.ceil(int(totals["spans"]) / options.task_spans),
                spark.sparkContext.defaultParallelism,
            ),
        ),
    )
    keys = partition_keys(partitions)
    part = F.floor(F.col(BUCKET) * partitions / buckets).cast("int")
    rows = rows.withColumn(
        PARTITION_KEY,
        F.element_at(F.array(*[F.lit(key).cast("long") for key in keys]), part + 1),
    )
    plan = BucketPlan(
        spans=int(totals["spans"]),
        traces=int(totals["traces"]),
        buckets=buckets,
        partitions=partitions,
        oversized=tuple((unit, n) for _, unit, n in oversized),
        linked_traces=linked,
        straddling_traces=int(totals["straddling"] or 0),
        split_buckets=len(splits),
        cached=(traces, units) + ((labels,) if labels is not None else ()),
    )
    return plan, rows


def linked_groups(spans: DataFrame) -> DataFrame:
    """``member`` -> ``unit``: every trace that links to another trace or is linked to, with
    the smallest trace id of its group (traces joined by span links, transitively). Up to
    ``LOCAL_EDGES`` links are joined on the driver (one job); more by label propagation with
    pointer jumping in Spark (two jobs a round)."""
    return _linked_groups(spans)[0]


def _linked_groups(spans: DataFrame) -> tuple[DataFrame, int]:
    """``linked_groups`` and how many traces it holds (known on the driver when the links were
    grouped there: a job less)."""
    from pyspark.sql import functions as F

    edges = (
        spans.where(F.size("links") > 0)
        .select(F.col("trace_id").alias("a"), F.explode("links.trace_id").alias("b"))
        .where(F.col("b").isNotNull() & (F.col("a") != F.col("b")))
        .distinct()
    )
    few = edges.limit(LOCAL_EDGES + 1).collect()
    if len(few) <= LOCAL_EDGES:
        groups = union_find((row["a"], row["b"]) for row in few)
        frame = spans.sparkSession.createDataFrame(
            sorted(groups.items()), "member string, unit string"
        )
        return frame, len(groups)
    both = edges.union(edges.select(F.col("b").alias("a"), F.col("a").alias("b"))).distinct()
    both = both.localCheckpoint()
    labels = both.groupBy("a").agg(F.least(F.col("a"), F.min("b")).alias("unit"))
    labels = labels.select(F.col("a").alias("member"), "unit").localCheckpoint()
    for _ in range(MAX_ROUNDS):
        neighbours = (
            both.join(labels, both["b"] == labels["member"])
            .groupBy("a")
            .agg(F.min("unit").alias("seen"))
        )
        stepped = labels.join(neighbours, labels["member"] == neighbours["a"], "left").select(
            "member", F.least("unit", F.coalesce("seen", "unit")).alias("unit")
        )
        jumped = (
            stepped.alias("x")
            .join(stepped.alias("y"), F.col("x.unit") == F.col("y.member"), "left")
            .select(
                F.col("x.member").alias("member"),
                F.least(F.col("x.unit"), F.coalesce(F.col("y.unit"), F.col("x.unit"))).alias(
                    "unit"
                ),
            )
            .localCheckpoint()
        )
        changed = (
            jumped.join(labels.withColumnRenamed("unit", "before"), "member")
            .where(F.col("unit") != F.col("before"))
            .count()
        )
        labels = jumped
        if changed == 0:
            return labels, labels.count()
    raise RuntimeError(f"linked traces: no fixed point after {MAX_ROUNDS} rounds")


def union_find(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Each id that occurs in ``pairs`` -> the smallest id of its connected group.

    >>> union_find([("b", "c"), ("c", "a"), ("x", "y")])
    {'b': 'a', 'c': 'a', 'a': 'a', 'x': 'x', 'y': 'x'}
    """
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        root = parent.setdefault(node, node)
        while root != parent[root]:
            root = parent[root]
        while node != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    for a, b in pairs:
        first, second = find(a), find(b)
        if first != second:
            low, high = sorted((first, second))
            parent[high] = low
    return {node: find(node) for node in parent}


def partition_keys(partitions: int) -> list[int]:
    """For each partition p of a ``repartition(partitions, key)`` on a long column, a key value
    Spark's hash partitioning sends to p (``pmod(hash(key), partitions)``, Spark's Murmur3 with
    seed 42), so a chosen partition number becomes a column value. Buckets then reach their
    task in id order (dates together), which hashing the bucket number would scatter, with some
    tasks doubly loaded and others idle."""
    wanted: dict[int, int] = {}
    key = 0
    while len(wanted) < partitions:
        wanted.setdefault(spark_hash_long(key) % partitions, key)
        key += 1
    return [wanted[slot] for slot in range(partitions)]


def spark_hash_long(value: int, seed: int = 42) -> int:
    """Spark's ``hash()`` of a long (Murmur3_x86_32.hashLong), as a signed 32-bit int.

    >>> spark_hash_long(0)
    -1670924195
    """
    mask = 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & mask

    def mix_k1(k1: int) -> int:
        k1 = (k1 * 0xCC9E2D51) & mask
        k1 = rotl(k1, 15)
        return (k1 * 0x1B873593) & mask

    def mix_h1(h1: int, k1: int) -> int:
        h1 = rotl(h1 ^ k1, 13)
        return (h1 * 5 + 0xE6546B64) & mask

    h1 = mix_h1(seed & mask, mix_k1(value & mask))
    h1 = mix_h1(h1, mix_k1((value >> 32) & mask))
    h1 ^= 8
    h1 ^= h1 >> 16
    h1 = (h1 * 0x85EBCA6B) & mask
    h1 ^= h1 >> 13
    h1 = (h1 * 0xC2B2AE35) & mask
    h1 ^= h1 >> 16
    return h1 - (1 << 32) if h1 & 0x80000000 else h1
