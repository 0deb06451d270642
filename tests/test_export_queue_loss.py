"""Export of the simulator's `queue-loss` scenario from a real Jaeger with an in-memory and with a
persistent Badger store, through both APIs: exactly the rows that were sent, parents and links
included (issue 15: through the classic API a consumer linking its parent came back with one
FOLLOWS_FROM reference, and lost its parent).

The simulation goes to both Jaegers over OTLP (`tracekit simulate --otlp`) and, the same seed
and start, straight into a dataset: that dataset is the truth.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from tests.cli import run
from tests.otlp_post import wait_stored
from tracekit.dataset import dataset_files

pytestmark = [pytest.mark.jaeger, pytest.mark.slow]

# The built-in scenario (consumers children of their producer, as pika makes them), and the
# same with each consumer also linking its producer (issue 15's shape: Jaeger writes that as one
# FOLLOWS_FROM reference), each in an hour no other test sends spans for.
VARIANTS = {
    "queue-loss": ("2025-05-06T10:00:00Z", "2025-05-06T11:00:00Z", None),
    "child-linked": ("2025-05-06T12:00:00Z", "2025-05-06T13:00:00Z", "child_linked"),
}
COMPARED = (
    "trace_id, span_id, parent_span_id, service, operation, kind, start_time, duration_us, "
    "status, links"
)


@dataclass
class Sent:
    """A simulation both Jaegers hold, as written straight to a dataset, and its window (its
    arrivals stop half an hour in; the queue drains after that)."""

    variant: str
    truth: pa.Table
    seed: int
    window: tuple[str, str]


def _table(dataset: Path) -> pa.Table:
    return duckdb.sql(f"SELECT * FROM read_parquet({dataset_files(dataset)!r})").to_arrow_table()


@pytest.fixture(scope="module", params=list(VARIANTS))
def sent(request, jaeger, jaeger_badger, tmp_path_factory: pytest.TempPathFactory) -> Sent:  # type: ignore[no-untyped-def]
    start, end, consumer = VARIANTS[request.param]
    seed = random.randrange(1, 1_000_000)
    print(f"{request.param} seed {seed}")
    folder = tmp_path_factory.mktemp("queue-loss")
    scenario = "queue-loss"
    if consumer is not None:
        scenario = str(folder / f"{request.param}.yaml")
        Path(scenario).write_text(
            f"extends: queue-loss\nname: {request.param}\n"
            f"instrumentation:\n  consumer: {consumer}\n"
        )
    truth = folder / "truth"
    for number, target in enumerate((jaeger, jaeger_badger)):
        out = ["--out", str(truth)] if number == 0 else []
        proc = run(
            "simulate",
            "--scenario",
            scenario,
            "--duration",
            "30m",
            "--seed",
            str(seed),
            "--start",
            start,
            "--otlp",
            target.otlp_http_url,
            *out,
        )
        assert proc.returncode == 0, (seed, proc.stderr)
    table = _table(truth)
    for target in (jaeger, jaeger_badger):
        wait_stored(table, target.query_url, timeout=120)
    return Sent(request.param, table, seed, (start, end))


def test_the_variants_have_the_shapes_at_stake(sent: Sent) -> None:
    """Consumers that are children of their producer, and in one variant also link it."""
    con = duckdb.connect()
    con.register("truth", sent.truth)
    found = con.execute(
        "SELECT count(*) FILTER (parent_span_id IS NOT NULL), count(*) FILTER ("
        "list_contains([link.span_id FOR link IN links], parent_span_id)) "
        "FROM truth WHERE kind = 'consumer'",
    ).fetchone()
    assert found is not None
    children, linking = found
    assert children > 0, (sent.variant, sent.seed)
    expected = children if sent.variant == "child-linked" else 0
    assert linking == expected, (sent.variant, sent.seed, found)


@pytest.mark.parametrize("api", ["v1", "v3"])
@pytest.mark.parametrize("storage", ["memory", "badger"])
def test_export_gives_exactly_the_rows_sent(
    jaeger, jaeger_badger, sent: Sent, tmp_path: Path, storage: str, api: str
) -> None:
    source = jaeger if storage == "memory" else jaeger_badger
    out = tmp_path / "exported"
    proc = run(
        "export",
        "--jaeger",
        source.query_url,
        "--out",
        str(out),
        "--start",
        sent.window[0],
        "--end",
        sent.window[1],
        "--api",
        api,
        "--format",
        "json",
        "--no-progress",
    )
    assert proc.returncode == 0, (sent.seed, proc.stderr)
    summary = json.loads(proc.stdout)
    con = duckdb.connect()
    con.register("truth", sent.truth)
    con.register("got", _table(out))

    def count(sql: str) -> int:
        found = con.execute(sql).fetchone()
        return -1 if found is None else int(found[0])

    found = {
        "missing": count(
            f"SELECT count(*) FROM (SELECT {COMPARED} FROM truth "
            f"EXCEPT ALL SELECT {COMPARED} FROM got)"
        ),
        "extra": count(
            f"SELECT count(*) FROM (SELECT {COMPARED} FROM got "
            f"EXCEPT ALL SELECT {COMPARED} FROM truth)"
        ),
        "parents differ": count(
            "SELECT count(*) FROM got JOIN truth USING (trace_id, span_id) "
            "WHERE got.parent_span_id IS DISTINCT FROM truth.parent_span_id"
        ),
        "rows": count("SELECT count(*) FROM got"),
    }
    expected = {"missing": 0, "extra": 0, "parents differ": 0, "rows": sent.truth.num_rows}
    assert found == expected, (sent.variant, f"seed {sent.seed}", storage, api, found, summary)
