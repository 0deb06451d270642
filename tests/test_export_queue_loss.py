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

START = "2025-05-06T10:00:00Z"  # a moment no other test sends spans for
END = "2025-05-06T11:00:00Z"  # arrivals stop at 10:30; the queue drains after that
COMPARED = (
    "trace_id, span_id, parent_span_id, service, operation, kind, start_time, duration_us, "
    "status, links"
)


@dataclass
class Sent:
    """The simulation both Jaegers hold, as written straight to a dataset."""

    truth: pa.Table
    seed: int


def _table(dataset: Path) -> pa.Table:
    return duckdb.sql(f"SELECT * FROM read_parquet({dataset_files(dataset)!r})").to_arrow_table()


@pytest.fixture(scope="module")
def sent(jaeger, jaeger_badger, tmp_path_factory: pytest.TempPathFactory) -> Sent:  # type: ignore[no-untyped-def]
    seed = random.randrange(1, 1_000_000)
    print(f"queue-loss seed {seed}")
    truth = tmp_path_factory.mktemp("queue-loss") / "truth"
    for number, target in enumerate((jaeger, jaeger_badger)):
        out = ["--out", str(truth)] if number == 0 else []
        proc = run(
            "simulate",
            "--scenario",
            "queue-loss",
            "--duration",
            "30m",
            "--seed",
            str(seed),
            "--start",
            START,
            "--otlp",
            target.otlp_http_url,
            *out,
        )
        assert proc.returncode == 0, (seed, proc.stderr)
    table = _table(truth)
    for target in (jaeger, jaeger_badger):
        wait_stored(table, target.query_url, timeout=120)
    return Sent(table, seed)


def test_the_scenario_has_consumers_linking_their_parent(sent: Sent) -> None:
    """The case at stake is in the data: consumer spans whose parent is also linked."""
    con = duckdb.connect()
    con.register("truth", sent.truth)
    linked_parents = con.execute(
        "SELECT count(*) FROM truth WHERE kind = 'consumer' AND parent_span_id IS NOT NULL "
        "AND list_contains([link.span_id FOR link IN links], parent_span_id)",
    ).fetchone()
    assert linked_parents is not None and linked_parents[0] > 0, sent.seed


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
        START,
        "--end",
        END,
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
    assert found == expected, (f"seed {sent.seed}", storage, api, found, summary)
