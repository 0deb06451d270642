"""The Parquet dataset: partitioning, dedup, atomic commits, leftovers, locking."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

import tracekit
import tracekit.dataset.keep
import tracekit.dataset.staging
from tests.spanrows import span, table
from tracekit.dataset import dataset_files, read_manifest, write_spans
from tracekit.errors import UserError


@pytest.fixture(params=["in memory", "duckdb"])
def dedup(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with each way of finding the rows to keep: in memory (small writes) and with
    DuckDB from the key files (large ones)."""
    if request.param == "duckdb":
        monkeypatch.setattr(tracekit.dataset.keep, "IN_MEMORY_KEYS", 0)
    return str(request.param)


def listing(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def two_day_rows() -> list[dict]:
    return [
        span("t1", "a", None, "shop-api", 0, 100),
        span("t1", "b", "a", "mes-api", 10, 50, kind="server"),
        span("t2", "c", None, "shop-api", 0, 70, day_offset=1),
    ]


def test_writes_hive_partitions_by_utc_date_and_counts_in_manifest(dataset: Path) -> None:
    result = write_spans(dataset, [table(two_day_rows())], source={"kind": "test"})
    assert (result.offered, result.added, result.files) == (3, 3, 2)
    dates = sorted(p.name for p in dataset.glob("date=*"))
    assert dates == ["date=2024-03-01", "date=2024-03-02"]
    manifest = read_manifest(dataset)
    assert manifest.counts == {"spans": 3, "files": 2}
    assert manifest.sources[0].kind == "test"
    assert manifest.sources[0].added == 3
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in dataset_files(dataset)) == 3


def test_same_rows_twice_add_nothing_and_repeats_in_one_batch_are_kept_once(
    dataset: Path, dedup: str
) -> None:
    rows = two_day_rows()
    first = write_spans(dataset, [table(rows), table(rows[:1])])
    assert (first.offered, first.added) == (4, 3)
    again = write_spans(dataset, [table(rows)])
    assert (again.added, again.duplicates) == (0, 3)
    con = tracekit.connect(dataset)
    assert con.execute("SELECT count(*) FROM spans").fetchone() == (3,)


def test_first_occurrence_wins_within_a_write(dataset: Path, dedup: str) -> None:
    first = span("t1", "a", None, "svc", 0, 10, operation="first")
    second = span("t1", "a", None, "svc", 0, 10, operation="second")
    write_spans(dataset, [table([first]), table([second])])
    con = tracekit.connect(dataset)
    assert con.execute("SELECT operation FROM spans").fetchall() == [("first",)]


def test_error_in_the_middle_of_the_batches_leaves_the_dataset_exactly_as_it_was(
    dataset: Path,
) -> None:
    write_spans(dataset, [table(two_day_rows()[:1])], source={"kind": "first"})
    before = listing(dataset)

    def batches():
        yield table(two_day_rows()[1:])
        raise RuntimeError("the third file was broken")

    with pytest.raises(RuntimeError):
        write_spans(dataset, batches(), source={"kind": "second"})
    after = {k: v for k, v in listing(dataset).items() if k != ".lock"}
    assert after == {k: v for k, v in before.items() if k != ".lock"}


def test_uncommitted_part_files_from_a_crash_are_ignored_and_swept(dataset: Path) -> None:
    write_spans(dataset, [table(two_day_rows()[:1])])
    # What a crash between moving part files and replacing the manifest leaves behind: files
    # the manifest records as pending, and a staging folder.
    stray = dataset / "date=2024-03-01" / "part-crashed.parquet"
    pq.write_table(table([span("t9", "z", None, "ghost", 0, 5)]), stray)
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["pending"] = ["date=2024-03-01/part-crashed.parquet"]
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    (dataset / ".staging-dead").mkdir()
    # A file nobody recorded is not proven ours: it is never read and never deleted.
    foreign = dataset / "date=2024-03-01" / "part-someone-elses.parquet"
    pq.write_table(table([span("t8", "y", None, "ghost", 0, 5)]), foreign)
    con = tracekit.connect(dataset)
    assert con.execute("SELECT count(*) FROM spans WHERE service = 'ghost'").fetchone() == (0,)
    write_spans(dataset, [table(two_day_rows()[1:2])])
    assert not stray.exists()
    assert not (dataset / ".staging-dead").exists()
    assert foreign.exists()
    assert "pending" not in json.loads((dataset / "manifest.json").read_text())


def test_batches_are_cast_to_the_schema_and_missing_columns_refused(dataset: Path) -> None:
    rows = table(two_day_rows())
    reordered = rows.select(list(reversed(rows.column_names)))
    assert write_spans(dataset, [reordered]).added == 3
    with pytest.raises(ValueError, match="lacks columns"):
        write_spans(dataset, [rows.drop(["service"])])


def test_a_second_writer_is_refused_while_one_holds_the_lock(dataset: Path) -> None:
    import fcntl

    dataset.mkdir()
    with open(dataset / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(UserError, match="another tracekit process"):
            write_spans(dataset, [table(two_day_rows())])


def test_a_folder_that_is_not_a_dataset_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(UserError, match="not a tracekit dataset"):
        tracekit.connect(tmp_path)
    with pytest.raises(UserError, match="no tracekit dataset here"):
        tracekit.connect(tmp_path / "missing")


def test_empty_dataset_has_every_view(dataset: Path) -> None:
    write_spans(dataset, [])
    con = tracekit.connect(dataset)
    assert con.execute("SELECT count(*) FROM spans").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM traces").fetchone() == (0,)


def test_many_staging_files_keep_first_occurrences_in_order(
    dataset: Path, monkeypatch: pytest.MonkeyPatch, dedup: str
) -> None:
    # 3 rows per staging file: the kept rows of 14 staging files go into one file per date
    monkeypatch.setattr(tracekit.dataset.staging, "ROWS_PER_STAGING_FILE", 3)
    rows = [
        span(f"t{n // 4}", f"s{n}", None, "svc", n, 10, operation=f"first-{n}", day_offset=n % 2)
        for n in range(40)
    ]
    repeats = [{**row, "operation": "repeat"} for row in rows[::3]]
    write_spans(dataset, [table(rows[:20]), table(repeats), table(rows[20:])])
    con = tracekit.connect(dataset)
    stored = con.execute("SELECT span_id, operation FROM spans ORDER BY start_time").fetchall()
    # the repeats come after rows 0-19 and before rows 20-39: they win for those of 20-39
    first = {row["span_id"]: row["operation"] for row in rows[:20]}
    first.update(
        {row["span_id"]: row["operation"] for row in repeats if row["span_id"] not in first}
    )
    first.update(
        {row["span_id"]: row["operation"] for row in rows[20:] if row["span_id"] not in first}
    )
    by_start = sorted(rows, key=lambda row: row["start_time"])
    assert stored == [(row["span_id"], first[row["span_id"]]) for row in by_start]
    assert sum(operation == "repeat" for _, operation in stored) == 7  # 21, 24, ..., 39
    files = dataset_files(dataset)
    assert len(files) == 2  # one per date
    given = rows[:20] + repeats + rows[20:]
    kept = [
        row
        for n, row in enumerate(given)
        if row["span_id"] not in {earlier["span_id"] for earlier in given[:n]}
    ]
    for path in files:  # each file holds its date's rows in input order
        stored_ids = pq.read_table(path, columns=["span_id"]).column(0).to_pylist()
        day = path.split("date=")[1][:10]
        assert stored_ids == [
            row["span_id"] for row in kept if row["start_time"].date().isoformat() == day
        ]


def test_both_ways_of_deduplicating_keep_the_same_rows(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ids that would run into each other if simply joined ("a/b" + "c" and "a" + "b/c"), keys
    # repeated within and across staging files, and keys stored on both dates
    monkeypatch.setattr(tracekit.dataset.staging, "ROWS_PER_STAGING_FILE", 4)
    write_spans(dataset, [table([span("t1", "a", None, "svc", 0, 10)])])
    write_spans(dataset, [table([span("t9", "z", None, "svc", 5, 10, day_offset=1)])])
    ids = [("a/b", "c"), ("a", "b/c"), ("t1", "a"), ("t9", "z"), ("a/b", "c"), ("t2", "b")]
    rows = [
        span(trace, span_id, None, "svc", n, 10, operation=str(n), day_offset=n % 2)
        for n, (trace, span_id) in enumerate(ids * 3)
    ]
    keys = []
    for threshold in (10**6, 0):  # in memory, then DuckDB
        monkeypatch.setattr(tracekit.dataset.keep, "IN_MEMORY_KEYS", threshold)
        root, manifest = tracekit.dataset.open_dataset(dataset)
        staging = dataset / "scratch"
        offered, staged = tracekit.dataset.staging.stage(
            [table(rows[:7]), table(rows[7:])], staging
        )
        con = duckdb.connect()
        kept = tracekit.dataset.keep.rows_to_keep(root, manifest, staged, offered, con)
        con.close()
        keys.append({Path(stem).name: rows.tolist() for stem, rows in kept.items()})
        shutil.rmtree(staging)
    assert keys[0] == keys[1]
    # a batch goes to one staging file: rows 0-6, then 7-17. Kept: rows 0 and 1 (distinct
    # although they join alike), not 2 and 3 (stored), not 4 (a repeat of 0), 5; then only
    # repeats follow
    assert keys[0] == {"00000": [0, 1, 5], "00001": []}


def test_every_view_binds_and_runs(dataset: Path) -> None:
    # views are created WITH (DEFER_BINDING): a broken one would only fail when first used
    write_spans(dataset, [table(two_day_rows())])
    for source in (dataset, dataset.parent / "empty"):
        if source.name == "empty":
            write_spans(source, [])
        con = tracekit.connect(source)
        views = [
            name
            for (name,) in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1"
            ).fetchall()
        ]
        assert {"spans", "traces", "critical_path", "bottlenecks", "lost_messages"} <= set(views)
        for name in views:
            con.execute(f'SELECT count(*) FROM "{name}"').fetchall()
