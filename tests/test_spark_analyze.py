"""The analyses on Apache Spark (issue #19): every result Spark computes equals DuckDB's.

A real standalone cluster (a master and two workers, executors in their own JVMs, real Python
workers: tests/plugins/spark.py) runs ``tracekit spark-analyze`` on

- a dataset of every simulator scenario (seeds drawn per run) plus hand-made traces: one
  straddling midnight, one whose last spans were written three days later (so the dataset's own
  stored results split it), an oversized trace, orphan spans, a trace without a root and a chain
  of traces joined by span links;
- CRISP's cases and Jaeger's real captures (../shared/eval, skipped when absent).

The oracle is DuckDB on one machine on the same dataset, every view computed from the spans at
query time (``tracekit.connect(live=True)``). Per-trace results, spans and counts must be equal
exactly; floating-point aggregates (means, variances) to 1e-9 relative, as summation order may
differ between engines; quantiles are exact (the same ``quantile_cont`` on the same values).
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet
import pytest

import tracekit
from tests.cli import assert_user_error, run
from tests.conftest import EVAL_DIR
from tests.spanrows import span, table
from tracekit.analytics.funnel import load_flow
from tracekit.dataset import read_manifest, write_spans
from tracekit.per_trace import PER_TRACE_VIEWS
from tracekit.result_set import read_result_set
from tracekit.schema import SPAN_SCHEMA

pytestmark = pytest.mark.slow

SCENARIOS = {
    "baseline": "2026-01-05T18:00:00Z",
    "queue-loss": "2026-01-06T18:10:00Z",
    "api-errors": "2026-01-07T12:00:00Z",
    "mes-saturated": "2026-01-07T23:55:00Z",  # runs over midnight
    "adr-coverage": "2026-01-09T10:00:00Z",
}
BUCKET_SPANS = 400
OVERSIZED_SPANS = 1500  # > 2 x BUCKET_SPANS: processed alone, spooled to local disk
MIDNIGHT_US = 12 * 3600 * 1_000_000  # tests.spanrows.EPOCH is noon
STRADDLING = "5" * 32
OVERSIZED = "0b" * 16
LATE = "1a7e" * 8
CHAIN = ["c0" * 16, "c1" * 16, "c2" * 16]
ORPHANED, ROOTLESS = "0f" * 16, "e0" * 16

# DuckDB's answer for each whole-data result of a run, on the dataset itself.
WORKSHOP = list(load_flow("workshop").steps)


def oracle(con: Any, name: str) -> list[tuple]:
    """DuckDB's rows for the whole-data result ``name`` on connection ``con``."""
    if name.startswith("funnel_"):
        steps = list(load_flow(name.removeprefix("funnel_")).steps)
        return con.execute("SELECT * FROM funnel($steps)", {"steps": steps}).fetchall()
    return con.execute(f"SELECT * FROM {name}").fetchall()


def same_rows(got: list[tuple], want: list[tuple], what: str) -> None:
    """Equal as multisets of rows: exactly, but floats to 1e-9 relative."""
    assert len(got) == len(want), f"{what}: {len(got)} rows, DuckDB {len(want)}"
    for mine, theirs in zip(sorted(got, key=_key), sorted(want, key=_key), strict=True):
        assert len(mine) == len(theirs), what
        for a, b in zip(mine, theirs, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-9) or (math.isnan(a) and math.isnan(b)), (
                    what,
                    mine,
                    theirs,
                )
            else:
                assert a == b, (what, mine, theirs)


def _key(row: tuple) -> str:
    # floats rounded for the ordering only, so rows equal to 1e-9 sort alike
    return repr(tuple(round(v, 6) if isinstance(v, float) else v for v in row))


def hand_made() -> tuple[pa.Table, pa.Table]:
    """The hand-made traces: (first write, a write three days later)."""
    rows = [
        # over midnight: the root and a child before it, two children after
        span(STRADDLING, "s0", None, "gateway", MIDNIGHT_US - 2_000_000, 5_000_000),
        span(STRADDLING, "s1", "s0", "orders", MIDNIGHT_US - 1_500_000, 1_000_000),
        span(STRADDLING, "s2", "s0", "orders", MIDNIGHT_US + 500_000, 2_000_000, status="ERROR"),
        span(STRADDLING, "s3", "s2", "db", MIDNIGHT_US + 700_000, 900_000, kind="client"),
        # orphans: a span whose parent never arrived; a trace with no root at all
        span(ORPHANED, "o0", None, "gateway", 0, 100_000),
        span(ORPHANED, "o1", "lost-parent", "orders", 10_000, 50_000),
        span(ROOTLESS, "r1", "gone", "orders", 20_000, 30_000),
        span(ROOTLESS, "r2", "r1", "db", 25_000, 10_000, kind="client"),
        # a trace whose last spans arrive three days later (written apart below)
        span(LATE, "l0", None, "gateway", 1_000_000, 4_000_000),
        span(LATE, "l1", "l0", "orders", 1_100_000, 1_000_000),
    ]
    # an oversized trace: a root calling the database once per item, serially (an N+1)
    rows.append(span(OVERSIZED, "big", None, "orders", 0, OVERSIZED_SPANS * 1_000))
    rows += [
        span(OVERSIZED, f"q{i:05d}", "big", "db", i * 1_000, 900, kind="client", operation="get")
        for i in range(OVERSIZED_SPANS - 1)
    ]
    # a chain of traces joined by links: each consumer links to the previous trace's producer
    for index, trace in enumerate(CHAIN):
        start = 5_000_000 + index * 100_000
        rows.append(span(trace, f"h{index}", None, f"stage-{index}", start, 80_000))
        links = []
        if index:
            links = [{"trace_id": CHAIN[index - 1], "span_id": f"p{index - 1}", "kind": "x"}]
        attributes = {"messaging.destination.name": f"queue-{index}"}
        rows.append(
            span(
                trace,
                f"c{index}",
                f"h{index}",
                f"stage-{index}",
                start + 1_000,
                5_000,
                kind="consumer",
                links=links,
                attributes=attributes,
            )
        )
        attributes = {"messaging.destination.name": f"queue-{index + 1}"}
        rows.append(
            span(
                trace,
                f"p{index}",
                f"h{index}",
                f"stage-{index}",
                start + 10_000,
                2_000,
                kind="producer",
                attributes=attributes,
            )
        )
    late = [
        span(LATE, "l2", "l0", "orders", 2_000_000, 1_000_000, day_offset=3),
        span(LATE, "l3", "l2", "db", 2_100_000, 500_000, kind="client", day_offset=3),
    ]
    return table(rows), table(late)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every scenario (6 minutes each, seeds drawn per run), the hand-made traces, and CRISP's
    cases and Jaeger's captures when ../shared/eval is there: one Spark run proves them all (a
    run's fixed cost, JVMs and jobs, is most of its time on data this small)."""
    from tracekit.simulate import simulate

    seed = random.randrange(1_000_000)
    print(f"simulation seeds {seed}..{seed + len(SCENARIOS) - 1}")
    dataset = tmp_path_factory.mktemp("spark-mixed") / "dataset"
    for offset, (scenario, start) in enumerate(SCENARIOS.items()):
        result = simulate(scenario, duration_s=360, seed=seed + offset, start=start)
        write_spans(dataset, result.batches, source=result.source())
    first, late = hand_made()
    write_spans(dataset, [first], source={"kind": "test"})
    write_spans(dataset, [late], source={"kind": "test"})
    if EVAL_DIR.is_dir():
        write_spans(dataset, [eval_spans(EVAL_DIR)], source={"kind": "test"})
    return dataset


@pytest.fixture(scope="module")
def earlier_result_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[Path]]:
    """A result set an earlier run left (one span, one whole-data result, committed as a run
    commits), which the run below replaces; and its files."""
    from tracekit.dataset.manifest import now_iso
    from tracekit.result_set import GLOBAL, ResultSet, ResultTable
    from tracekit.spark.commit import commit, new_staging, result_folder

    base = tmp_path_factory.mktemp("spark-earlier")
    source = base / "dataset"
    write_spans(source, [table([span("ee" * 16, "e0", None, "gateway", 0, 1_000)])])
    root = result_folder(str(base / "results"), source)
    staging = new_staging(root)
    manifest = read_manifest(source)
    for entry in manifest.files:
        (staging / entry.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / entry.path, staging / entry.path)
    path = f"{GLOBAL}/dependencies/part-earlier.parquet"
    (staging / path).parent.mkdir(parents=True)
    pa.parquet.write_table(pa.table({"caller": ["gateway"]}), staging / path)
    results = ResultSet(source=str(source), engine="earlier", created=now_iso())
    results.tables["dependencies"] = ResultTable(name="dependencies", files=(path,), rows=1)
    commit(root, staging, manifest, results)
    files = {file.relative_to(root) for file in root.rglob("part-*.parquet")}
    assert read_result_set(root) is not None and len(files) >= 2, files
    return root, files


@pytest.fixture(scope="module")
def mixed_results(
    mixed: Path, earlier_result_set: tuple[Path, set[Path]], spark_cluster: Any
) -> Path:
    """``tracekit spark-analyze`` on the mixed dataset, as a user runs it (its own driver),
    into the folder of an earlier result set, which it replaces."""
    out = earlier_result_set[0]
    conf = [f"--conf={key}={value}" for key, value in spark_cluster.driver_conf().items()]
    proc = run(
        "spark-analyze",
        str(mixed),
        "--out",
        str(out),
        "--master",
        spark_cluster.master_url,
        "--bucket-spans",
        str(BUCKET_SPANS),
        "--task-spans",
        "3000",
        "--task-memory",
        "256MB",
        *conf,
        env={"SPARK_LOCAL_IP": "127.0.0.1"},
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"analyzed {mixed} on Spark" in proc.stdout, proc.stdout
    # where a run's time goes (shown with -s or on a failure)
    print(proc.stdout, read_result_set(out).stats["seconds"])  # type: ignore[union-attr]
    return out


@pytest.fixture(scope="module")
def oracle_connection(mixed: Path) -> Iterator[Any]:
    con = tracekit.connect(mixed, live=True)
    yield con
    con.close()


def test_spans_and_per_trace_results_equal_duckdb(
    mixed_results: Path, oracle_connection: Any
) -> None:
    con = tracekit.connect(mixed_results)
    for name in ("spans", *PER_TRACE_VIEWS):
        got = con.execute(f"SELECT * FROM {name}")
        columns = [column[0] for column in got.description]
        want = oracle_connection.execute(f"SELECT * FROM {name}")
        assert columns == [column[0] for column in want.description], name
        same_rows(got.fetchall(), want.fetchall(), name)


def test_every_whole_data_result_equals_duckdb(mixed_results: Path, oracle_connection: Any) -> None:
    results = read_result_set(mixed_results)
    assert results is not None
    assert not results.skipped, results.skipped
    assert set(results.tables) == {
        "latency_by_service",
        "latency_by_operation",
        "dependencies",
        "bottlenecks",
        "bottleneck_operations",
        "lost_messages",
        "funnel_workshop",
    }
    con = tracekit.connect(mixed_results)
    for name in results.tables:
        got = con.execute(f"SELECT * FROM spark.{name}").fetchall()
        assert got or name == "lost_messages", f"{name} is empty"
        same_rows(got, oracle(oracle_connection, name), name)


def test_the_result_set_reads_like_the_dataset(mixed_results: Path, oracle_connection: Any) -> None:
    """The ordinary views on the result set (computed from its stored results, as on any
    dataset) equal DuckDB's on the dataset."""
    con = tracekit.connect(mixed_results)
    for query in (
        "SELECT * FROM bottlenecks",
        "SELECT * FROM dependencies",
        "SELECT * FROM latency_by_service",
        "SELECT * FROM lost_messages",
        "SELECT * FROM n_plus_one_summary",
        "SELECT * FROM errors_by_service",
        "SELECT * FROM trace_orders",
    ):
        same_rows(con.execute(query).fetchall(), oracle_connection.execute(query).fetchall(), query)
    steps = {"steps": WORKSHOP}
    same_rows(
        con.execute("SELECT * FROM funnel($steps)", steps).fetchall(),
        oracle_connection.execute("SELECT * FROM funnel($steps)", steps).fetchall(),
        "funnel",
    )


def test_whole_traces_reach_one_task(mixed: Path, mixed_results: Path) -> None:
    """The trace over midnight, the one written in two writes days apart and the linked chain
    are each one trace (or group) in the results, though the dataset's own stored results,
    written a day at a time, split the late one."""
    con = tracekit.connect(mixed_results)
    for trace in (STRADDLING, LATE, *CHAIN):
        assert con.execute(
            "SELECT count(*) FROM traces WHERE trace_id = ?", [trace]
        ).fetchall() == [(1,)], trace
    spans = con.execute("SELECT span_count FROM traces WHERE trace_id = ?", [LATE]).fetchall()
    assert spans == [(4,)]
    stored = (
        tracekit.connect(mixed)
        .execute("SELECT count(*) FROM traces WHERE trace_id = ?", [LATE])
        .fetchall()
    )
    assert stored == [(2,)], "the dataset's own results hold the late trace in two pieces"
    stats = read_result_set(mixed_results).stats  # type: ignore[union-attr]
    assert stats["straddling_traces"] >= 2, stats  # the hand-made one, and LATE across days
    assert stats["linked_traces"] >= len(CHAIN), stats


def test_an_oversized_trace_is_processed_alone_and_buckets_stay_bounded(
    mixed_results: Path,
) -> None:
    stats = read_result_set(mixed_results).stats  # type: ignore[union-attr]
    oversized = {entry["unit"]: entry["spans"] for entry in stats["oversized_traces"]}
    assert oversized == {OVERSIZED: OVERSIZED_SPANS}, stats
    assert stats["spooled_buckets"] == 1, stats
    # every other bucket within twice the planned size (larger hash buckets are split)
    assert stats["largest_bucket"] == OVERSIZED_SPANS, stats
    assert stats["buckets"] > stats["spans"] / BUCKET_SPANS, stats
    con = tracekit.connect(mixed_results)
    calls = con.execute("SELECT calls FROM n_plus_one WHERE trace_id = ?", [OVERSIZED]).fetchall()
    assert calls == [(OVERSIZED_SPANS - 1,)]


def test_sql_info_and_a_report_read_the_result_set(
    mixed_results: Path, oracle_connection: Any, tmp_path: Path
) -> None:
    from tracekit.report.findings import read_findings

    proc = run("sql", str(mixed_results), "SELECT service FROM spark.bottlenecks WHERE rank = 1")
    assert proc.returncode == 0, proc.stderr
    proc = run("info", str(mixed_results), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    spans = oracle_connection.execute("SELECT count(*) FROM span_rows").fetchall()[0][0]
    assert json.loads(proc.stdout)["totals"]["spans"] == str(spans)
    proc = run("report", "bottlenecks", "--data", str(mixed_results), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    notebook = next(tmp_path.glob("bottlenecks/*/report.ipynb"))
    worst = oracle_connection.execute("SELECT service FROM bottlenecks WHERE rank = 1").fetchall()
    assert read_findings(notebook)["bottleneck"] == worst[0][0]


def test_a_later_write_hides_the_whole_data_results(mixed_results: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results"
    shutil.copytree(mixed_results, copy)
    con = tracekit.connect(copy)
    assert con.execute("SELECT count(*) FROM spark.dependencies").fetchall()[0][0] > 0
    extra = table([span("ad" * 16, "x0", None, "gateway", 0, 1_000)])
    write_spans(copy, [extra], source={"kind": "test"})
    schemas = (
        tracekit.connect(copy)
        .execute("SELECT count(*) FROM duckdb_views() WHERE schema_name = 'spark'")
        .fetchall()
    )
    assert schemas == [(0,)], "whole-data results of other spans must not be shown"


def test_a_damaged_results_manifest_is_one_line(mixed_results: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results"
    shutil.copytree(mixed_results, copy)
    (copy / "results.json").write_text('{"format": "tracekit-results", "version": 1, "tables": 7')
    assert_user_error(run("sql", str(copy), "SELECT 1"), "results.json")


# -- CRISP and Jaeger's captures, in the same run ---------------------------------------------


def eval_spans(eval_dir: Path) -> pa.Table:
    """CRISP's cases (each trace 'A' in its own file: renamed crisp-NN) and Jaeger's captures."""
    import pyarrow.compute as pc

    from tracekit.importers import read_file

    parts = []
    for number in range(1, 26):
        case = pa.Table.from_batches(
            list(read_file(eval_dir / "crisp" / f"case-{number:02d}.json")), schema=SPAN_SCHEMA
        )
        ids = pa.array([f"crisp-{number:02d}"] * case.num_rows, pa.string())
        parts.append(case.set_column(0, SPAN_SCHEMA.field("trace_id"), ids))
    for path in sorted((eval_dir / "jaeger-skills").glob("*.json")):
        if path.name.endswith(".manifest.json"):
            continue
        parts.append(pa.Table.from_batches(list(read_file(path)), schema=SPAN_SCHEMA))
    spans = pa.concat_tables(parts)
    assert pc.count_distinct(spans["trace_id"]).as_py() >= 30
    return spans


def test_crisp_and_real_captures_equal_duckdb(
    eval_dir: Path, mixed_results: Path, oracle_connection: Any
) -> None:
    """CRISP's cases and Jaeger's captures went through the same run: every one of their
    traces is in the results, its spans and per-trace rows equal DuckDB's (so a run that
    dropped them, or computed them apart, fails here and not only in the totals)."""
    import pyarrow.compute as pc

    ids = sorted(pc.unique(eval_spans(eval_dir)["trace_id"]).to_pylist())
    mine = tracekit.connect(mixed_results)
    found = mine.execute(
        "SELECT count(*) FROM traces WHERE list_contains($ids, trace_id)", {"ids": ids}
    ).fetchall()
    assert found == [(len(ids),)], f"{found} of {len(ids)} eval traces in the results"
    for name in ("spans", *PER_TRACE_VIEWS):
        query = f"SELECT * FROM {name} WHERE list_contains($ids, trace_id)"
        got = mine.execute(query, {"ids": ids}).fetchall()
        assert got or name not in ("spans", "traces", "critical_path"), name
        same_rows(got, oracle_connection.execute(query, {"ids": ids}).fetchall(), name)


def test_a_run_replaces_the_result_set_it_finds(
    earlier_result_set: tuple[Path, set[Path]], mixed_results: Path
) -> None:
    before = earlier_result_set[1]
    after = {path.relative_to(mixed_results) for path in mixed_results.rglob("part-*.parquet")}
    assert not before & after, "the replaced result set's files are gone"
    manifest = read_manifest(mixed_results)
    assert {entry.path for entry in manifest.files} | set(
        read_result_set(mixed_results).files()  # type: ignore[union-attr]
    ) == {str(path) for path in after}
    assert not list(mixed_results.glob(".staging-*"))
    assert manifest.counts["spans"] == read_result_set(mixed_results).stats["spans"]  # type: ignore[union-attr]


# -- refusals before Spark starts -----------------------------------------------------------


def test_result_folders_spark_analyze_refuses(mixed: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    dataset = tmp_path / "a-dataset"
    write_spans(dataset, [table([span("ad" * 16, "x0", None, "gateway", 0, 1_000)])])
    cases = [
        (["--out", str(dataset)], "holds a tracekit dataset"),
        (["--out", str(mixed)], "may not overlap"),
        (["--out", str(mixed / "results")], "may not overlap"),
        (["--out", str(other)], "not empty and not a result set"),
        (["--out", "s3://bucket/results"], "give a folder path"),
    ]
    for flags, needle in cases:
        assert_user_error(run("spark-analyze", str(mixed), *flags), needle)
    assert (other / "notes.txt").read_text() == "mine"
    assert_user_error(
        run("spark-analyze", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")),
        "no tracekit dataset",
    )
    assert_user_error(
        run("spark-analyze", str(mixed), "--out", str(tmp_path / "r"), "--task-memory", "lots"),
        "--task-memory",
    )


# -- the planning's parts, against Spark itself ---------------------------------------------


def test_linked_groups_by_spark_and_by_the_driver_are_the_connected_traces(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    import tracekit.spark.buckets as buckets

    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    # 40 traces make chains of several hops and stars (Spark's label propagation runs rounds
    # of jobs until nothing changes: few traces, few rounds' fixed cost)
    traces = [f"{number:032x}" for number in range(40)]
    rows, edges = [], []
    for trace in traces:
        links = []
        if rng.random() < 0.6:  # chains and stars: link to an earlier trace, or a later one
            other = rng.choice(traces)
            links = [{"trace_id": other, "span_id": "x", "kind": "follows_from"}]
            edges.append((trace, other))
        rows.append(span(trace, "s", None, "svc", 0, 10, links=links))
    pq.write_table(table(rows), tmp_path / "spans.parquet")
    frame = spark.read.parquet(str(tmp_path / "spans.parquet"))
    # the connected traces, found here by walking the links both ways
    neighbours: dict[str, set[str]] = {}
    for a, b in edges:
        if a != b:
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
    want: dict[str, str] = {}
    for start in neighbours:
        if start in want:
            continue
        group, frontier = {start}, [start]
        while frontier:
            for other in neighbours[frontier.pop()] - group:
                group.add(other)
                frontier.append(other)
        want.update({member: min(group) for member in group})
    on_driver = {row["member"]: row["unit"] for row in buckets.linked_groups(frame).collect()}
    monkeypatch.setattr(buckets, "LOCAL_EDGES", 0)
    on_spark = {row["member"]: row["unit"] for row in buckets.linked_groups(frame).collect()}
    assert on_driver == want, seed
    assert on_spark == want, seed


def test_partition_keys_land_in_their_partitions(spark: Any) -> None:
    from pyspark.sql import functions as F

    from tracekit.spark.buckets import partition_keys

    partitions = random.randrange(2, 40)
    keys = partition_keys(partitions)
    frame = spark.createDataFrame(
        [(slot, key) for slot, key in enumerate(keys)], "slot int, k long"
    )
    placed = frame.repartition(partitions, "k").select("slot", F.spark_partition_id().alias("p"))
    assert all(row["slot"] == row["p"] for row in placed.collect()), partitions
