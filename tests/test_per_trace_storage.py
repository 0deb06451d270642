"""Per-trace results stored when spans are written: late spans, buckets, upgrades, repairs.

Ground truth here is the same SQL computed over the whole dataset at once (a dataset written in
one go, or an old-format dataset whose views compute everything at query time): however the
spans arrive, the stored results must equal it.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import tracekit
import tracekit.dataset.writer
from tracekit.dataset import read_manifest, write_spans
from tracekit.errors import UserError
from tracekit.per_trace import STORED_VIEWS
from tracekit.schema import EVENT, SPAN_SCHEMA

pytestmark = pytest.mark.slow


def simulated_spans(start: str, minutes: float, seed: int, load: float = 1.0) -> pa.Table:
    from tracekit.simulate import simulate

    result = simulate("queue-loss", duration_s=minutes * 60, seed=seed, start=start, load=load)
    return pa.Table.from_batches(result.batches).select(SPAN_SCHEMA.names)


def stored_results(dataset: Path) -> dict[str, list[tuple]]:
    """Every per-trace view and every span's self time, as sorted rows."""
    con = tracekit.connect(dataset)
    results = {}
    for name in (*STORED_VIEWS, "spans"):
        columns = "trace_id, span_id, self_us" if name == "spans" else "*"
        rows = con.execute(f"SELECT {columns} FROM {name}").fetchall()
        results[name] = sorted(rows, key=repr)
    return results


def shift_times(spans: pa.Table, delta: dt.timedelta) -> pa.Table:
    """``spans`` with every time (start, end, events) moved by ``delta``."""
    step = pa.scalar(delta, pa.duration("us"))
    events = spans["events"].combine_chunks()
    time, name, attributes = events.values.flatten()
    moved = pa.ListArray.from_arrays(
        events.offsets,
        pa.StructArray.from_arrays([pc.add(time, step), name, attributes], fields=list(EVENT)),
        mask=events.is_null(),
    )
    for column, values in (
        ("start_time", pc.add(spans["start_time"], step)),
        ("end_time", pc.add(spans["end_time"], step)),
        ("events", moved),
    ):
        spans = spans.set_column(spans.schema.get_field_index(column), column, values)
    return spans


def test_a_trace_split_across_two_writes_on_two_days_gives_the_results_of_one_write(
    tmp_path: Path,
) -> None:
    seed = random.randrange(1_000_000)
    spans = simulated_spans("2026-01-05T12:00:00Z", 8, seed, load=30)
    # move the data so that midnight falls inside the trace with the most spans: its spans, and
    # those of every other trace running then, come in two writes, one per day
    counts = pc.value_counts(spans["trace_id"]).to_pylist()
    busiest = max(counts, key=lambda entry: entry["counts"])["values"]
    starts = sorted(spans.filter(pc.equal(spans["trace_id"], busiest))["start_time"].to_pylist())
    cut = starts[len(starts) // 2]
    midnight = dt.datetime.combine(cut.date() + dt.timedelta(days=1), dt.time())
    spans = shift_times(spans, midnight - cut)
    days = pc.cast(spans["start_time"], pa.date32())
    first_day = pc.equal(days, pc.min(days))
    whole, split = tmp_path / "whole", tmp_path / "split"
    write_spans(whole, [spans])
    write_spans(split, [spans.filter(first_day)])
    write_spans(split, [spans.filter(pc.invert(first_day))])
    straddling = set(spans.filter(first_day)["trace_id"].to_pylist()) & set(
        spans.filter(pc.invert(first_day))["trace_id"].to_pylist()
    )
    assert busiest in straddling, f"seed {seed}"
    assert stored_results(split) == stored_results(whole), f"seed {seed}"


def test_spans_arriving_in_random_writes_give_the_results_of_one_write(tmp_path: Path) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    spans = simulated_spans("2026-01-05T09:00:00Z", 10, seed)
    whole = tmp_path / "whole"
    write_spans(whole, [spans])
    # each span goes to one of three writes, in a shuffled order of writes
    writes = [rng.randrange(3) for _ in range(spans.num_rows)]
    pieces = tmp_path / "pieces"
    for write in rng.sample(range(3), 3):
        mask = pa.array([chosen == write for chosen in writes])
        write_spans(pieces, [spans.filter(mask)])
    assert stored_results(pieces) == stored_results(whole), f"seed {seed}"
    # and the stored rows hold each span once
    con = tracekit.connect(pieces)
    counted = con.execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans")
    assert counted.fetchall() == [(spans.num_rows, spans.num_rows)]


def test_traces_processed_in_many_buckets_give_the_results_of_one_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = random.randrange(1_000_000)
    spans = simulated_spans("2026-01-05T09:00:00Z", 10, seed)
    one = tmp_path / "one"
    write_spans(one, [spans])
    monkeypatch.setattr(tracekit.dataset.writer, "ROWS_PER_BUCKET", max(1, spans.num_rows // 7))
    many = tmp_path / "many"
    write_spans(many, [spans])
    assert stored_results(many) == stored_results(one), f"seed {seed}"


def write_version_1(dataset: Path, spans: pa.Table) -> None:
    """A dataset as tracekit wrote it before per-trace results were stored (schema version 1):
    span files without self_us, a manifest whose entries name no table."""
    days = pc.cast(spans["start_time"], pa.date32())
    entries = []
    for day in pc.unique(days).to_pylist():
        part = spans.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        path = f"date={day.isoformat()}/part-{len(entries):032x}.parquet"
        (dataset / path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, dataset / path)
        entries.append({"path": path, "date": day.isoformat(), "rows": part.num_rows})
    manifest = {
        "format": "tracekit-dataset",
        "schema_version": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "updated": None,
        "files": entries,
        "sources": [{"kind": "test", "spans": spans.num_rows, "added": spans.num_rows}],
        "counts": {"spans": spans.num_rows, "files": len(entries)},
    }
    (dataset / "manifest.json").write_text(json.dumps(manifest))


def test_an_old_dataset_is_read_as_it_is_and_upgraded_on_its_next_write(tmp_path: Path) -> None:
    seed = random.randrange(1_000_000)
    spans = simulated_spans("2026-01-05T23:55:00Z", 10, seed)
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    write_version_1(old, spans)
    write_spans(new, [spans])
    # read as it is: the same SQL, computed at query time
    assert stored_results(old) == stored_results(new), f"seed {seed}"
    assert not read_manifest(old).derived
    # a write upgrades it first (here, a write adding nothing)
    write_spans(old, [spans.slice(0, 5)])
    manifest = read_manifest(old)
    assert manifest.derived and set(STORED_VIEWS) <= set(manifest.tables())
    assert stored_results(old) == stored_results(new), f"seed {seed}"
    # the old files are gone, since the manifest named them
    assert all(entry.table for entry in manifest.files)
    assert sum(1 for _ in old.glob("date=*/part-*.parquet")) == manifest.counts["files"]


def test_a_folder_with_part_files_but_no_manifest_is_refused_untouched(tmp_path: Path) -> None:
    spans = simulated_spans("2026-01-05T09:00:00Z", 5, random.randrange(1_000_000))
    dataset = tmp_path / "ds"
    write_spans(dataset, [spans])
    (dataset / "manifest.json").unlink()
    before = {p: p.read_bytes() for p in dataset.rglob("*") if p.is_file() and p.name != ".lock"}
    with pytest.raises(UserError, match="no manifest.json.*tracekit repair"):
        write_spans(dataset, [spans.slice(0, 3)])
    with pytest.raises(UserError, match="no manifest.json"):
        tracekit.connect(dataset)
    after = {p: p.read_bytes() for p in dataset.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before


def test_a_report_window_narrows_the_stored_views_to_its_traces(tmp_path: Path) -> None:
    from tracekit.connect import restrict_to_traces

    spans = simulated_spans("2026-01-05T09:00:00Z", 10, random.randrange(1_000_000))
    dataset = tmp_path / "ds"
    write_spans(dataset, [spans])
    con = tracekit.connect(dataset)
    chosen = [
        row[0] for row in con.execute("SELECT trace_id FROM traces USING SAMPLE 10").fetchall()
    ]
    con.execute("CREATE TABLE chosen AS SELECT unnest($ids) AS trace_id", {"ids": chosen})
    restrict_to_traces(con, "chosen")
    for name in (*STORED_VIEWS, "spans", "span_rows"):
        seen = {row[0] for row in con.execute(f"SELECT DISTINCT trace_id FROM {name}").fetchall()}
        assert seen <= set(chosen), name
    assert con.execute("SELECT count(*) FROM traces").fetchall() == [(len(chosen),)]
    shutil.rmtree(dataset)


def test_repair_rebuilds_a_lost_manifest_from_the_span_files(tmp_path: Path) -> None:
    from tests.cli import assert_user_error, run

    seed = random.randrange(1_000_000)
    spans = simulated_spans("2026-01-05T23:57:00Z", 6, seed, load=10)
    dataset = tmp_path / "ds"
    write_spans(dataset, [spans.slice(0, spans.num_rows // 2)])
    write_spans(dataset, [spans.slice(spans.num_rows // 2)])
    expected = stored_results(dataset)
    # a crash left a copy of one span file behind (its rows repeat stored ones), a stranger's
    # file sits beside them, and then the manifest was lost
    first = sorted(dataset.glob("date=*/part-*.parquet"))[0]
    shutil.copy(first, first.with_name("part-leftover.parquet"))
    stranger = first.with_name("part-notes.parquet")
    pq.write_table(pa.table({"x": [1]}), stranger)
    (dataset / "manifest.json").unlink()
    refused = run("info", str(dataset))
    assert_user_error(refused, "no manifest.json", "tracekit repair")
    done = run("repair", str(dataset))
    assert done.returncode == 0, done.stderr
    assert "adopted" in done.stdout and "part-notes.parquet: lacks span columns" in done.stderr
    assert stored_results(dataset) == expected, f"seed {seed}"
    assert stranger.exists()
    assert_user_error(run("repair", str(dataset)), "nothing to repair")


def results_of(con) -> dict[str, list[tuple]]:
    results = {}
    for name in (*STORED_VIEWS, "spans"):
        columns = "trace_id, span_id, self_us" if name == "spans" else "*"
        results[name] = sorted(con.execute(f"SELECT {columns} FROM {name}").fetchall(), key=repr)
    return results


@pytest.mark.parametrize("scenario", ["baseline", "queue-loss", "api-errors", "mes-saturated"])
def test_stored_results_equal_the_views_computed_over_the_whole_dataset(
    scenario: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each view listed as per-trace must depend on one trace's spans only: computed in small
    buckets of traces, it must give what the SQL gives over all spans at once."""
    from tracekit.simulate import simulate

    seed = random.randrange(1_000_000)
    result = simulate(scenario, duration_s=900, seed=seed, start="2026-01-05T09:00:00Z")
    spans = pa.Table.from_batches(result.batches)
    monkeypatch.setattr(tracekit.dataset.writer, "ROWS_PER_BUCKET", max(1, spans.num_rows // 5))
    dataset = tmp_path / "ds"
    write_spans(dataset, [spans])
    stored = results_of(tracekit.connect(dataset))
    live = results_of(tracekit.connect(dataset, live=True))
    for name in stored:
        assert stored[name] == live[name], f"{scenario} seed {seed}: {name}"


def test_a_consumer_written_later_changes_the_stored_fate_of_a_message_written_before(
    tmp_path: Path,
) -> None:
    """The cross-trace results (message fates, joined traces, late charges) are stored for the
    whole dataset by every write: a consumer trace that arrives in a later write takes a message
    stored by an earlier one, by message id (u1) and by link (u2), as if written at once."""
    from tests.spanrows import span, table

    def send(trace: str, at: int, message: str) -> list[dict]:
        return [
            span(trace, f"{trace}-root", None, "mes-api", at, 2_000, operation="POST /orders"),
            span(trace, f"{trace}-send", f"{trace}-root", "mes", at + 100, 300,
                 operation="orders publish", kind="producer",
                 attributes={"messaging.destination.name": "orders",
                             "messaging.message.id": message}),
        ]  # fmt: skip

    def take(trace: str, at: int, message: str, link: str | None = None) -> list[dict]:
        links = [{"trace_id": link, "span_id": f"{link}-send", "kind": None}] if link else []
        return [
            span(trace, f"{trace}-take", None, "crm", at, 50_000, operation="orders process",
                 kind="consumer", links=links,
                 attributes={"messaging.destination.name": "orders",
                             "messaging.message.id": message}),
        ]  # fmt: skip

    before = table(send("t1", 0, "m1") + send("t2", 10_000, "m2") + take("u0", 20_000, "m0"))
    later = table(take("u1", 30_000, "m1") + take("u2", 40_000, "m2-other", link="t2"))
    split, whole = tmp_path / "split", tmp_path / "whole"
    write_spans(split, [before])
    con = tracekit.connect(split)
    assert con.execute("SELECT trace_id, reason FROM messages ORDER BY 1").fetchall() == [
        ("t1", "not_seen"),
        ("t2", "not_seen"),
    ]
    write_spans(split, [later])
    write_spans(whole, [pa.concat_tables([before, later])])
    assert {"messages", "joined_traces", "journey_late_charges"} <= set(
        read_manifest(split).tables()
    )
    con = tracekit.connect(split)
    stored = "SELECT view_name FROM duckdb_views() WHERE view_name LIKE 'stored_%'"
    assert {"stored_messages", "stored_joined_traces", "stored_journey_late_charges"} <= {
        name for (name,) in con.execute(stored).fetchall()
    }
    fates = "SELECT trace_id, outcome, consumer_trace_id, matched_by FROM messages ORDER BY 1"
    assert con.execute(fates).fetchall() == [
        ("t1", "handled", "u1", "message_id"),
        ("t2", "handled", "u2", "link"),
    ]
    assert con.execute("SELECT * FROM joined_traces ORDER BY 1").fetchall() == [
        ("u1", "t1"),
        ("u2", "t2"),
    ]
    # each order's consumer ends after its entry trace answered: its wait and work are charged
    late = "SELECT trace_id, service, is_wait, duration_us FROM journey_late_charges ORDER BY ALL"
    assert con.execute(late).fetchall() == [
        ("t1", "crm", False, 50_000),
        ("t1", "crm", True, 28_000),
        ("t2", "crm", False, 50_000),
        ("t2", "crm", True, 28_000),
    ]
    assert stored_results(split) == stored_results(whole)
    assert stored_results(split) == results_of(tracekit.connect(split, live=True))


def test_upgrade_stores_the_cross_trace_results_a_current_dataset_lacks(tmp_path: Path) -> None:
    """A dataset of the current schema written before the cross-trace results were stored
    computes them at query time; `tracekit upgrade` stores them alone, equal to what it read."""
    from tracekit.cross_trace import CROSS_TRACE_VIEWS
    from tracekit.dataset.manifest import write_manifest
    from tracekit.dataset.upgrade import upgrade

    seed = random.randrange(1_000_000)
    dataset = tmp_path / "ds"
    write_spans(dataset, [simulated_spans("2026-01-05T09:00:00Z", 5, seed)])
    expected = stored_results(dataset)
    manifest = read_manifest(dataset)
    dropped = [entry for entry in manifest.files if entry.table in CROSS_TRACE_VIEWS]
    assert len(dropped) == len(CROSS_TRACE_VIEWS), f"seed {seed}"
    manifest.files = [entry for entry in manifest.files if entry not in dropped]
    write_manifest(dataset, manifest)
    for entry in dropped:
        (dataset / entry.path).unlink()
    kept = {entry.path for entry in manifest.files}
    assert stored_results(dataset) == expected, f"seed {seed}"  # computed at query time
    assert upgrade(dataset)
    after = read_manifest(dataset)
    assert set(CROSS_TRACE_VIEWS) <= set(after.tables())
    assert kept <= {entry.path for entry in after.files}  # nothing else rewritten
    assert stored_results(dataset) == expected, f"seed {seed}"
    assert not upgrade(dataset)
