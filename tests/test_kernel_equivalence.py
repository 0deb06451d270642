"""The per-trace kernel against the view SQL it replaces: identical rows (every column, every
type) on the case files, CRISP, the Jaeger fixtures, the benchmark's random call trees, messy
hand-made rows (duplicate span ids, parent cycles, orphans, times before 1970) and simulated
scenarios with drawn seeds. Kept while both exist."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml  # noqa: E402  (after the tests' own imports, as the plugins do)

from tests.plugins.analytics import CASES, span_table
from tests.plugins.critical_path import eval_table, rows_connection
from tests.test_critical_path import _messy_trace, bench
from tracekit.per_trace import PER_TRACE_VIEWS, compute_per_trace
from tracekit.schema import SPAN_SCHEMA


def assert_same(
    table: pa.Table, label: str, views: tuple[str, ...] = PER_TRACE_VIEWS
) -> dict[str, pa.Table]:
    """The kernel's tables (of ``views``; with span_self_time, its self times too) equal the
    SQL views' over ``table``; returns the kernel's tables."""
    con = rows_connection(table)
    got = compute_per_trace(table)
    for name in views:
        want = con.sql(f"SELECT * FROM {name}").to_arrow_table()
        mine = got.tables[name]
        assert mine.schema == want.schema, f"{label}: {name}"
        assert sorted(mine.to_pylist(), key=repr) == sorted(want.to_pylist(), key=repr), (
            f"{label}: {name}"
        )
    if "span_self_time" in views:
        want_self = con.sql("SELECT self_us FROM spans").to_arrow_table()["self_us"]
        assert got.self_us.to_pylist() == want_self.to_pylist(), f"{label}: self_us"
    return got.tables


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for area in ("critical_path", "errors", "n_plus_one", "bottlenecks", "funnel", "latency")
        for p in (CASES / area).glob("*.yaml")
    ),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_case_files(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    assert_same(span_table(case["spans"]), path.stem)


def test_crisp_and_jaeger_fixtures(eval_dir: Path) -> None:
    files = sorted((eval_dir / "crisp").glob("case-*.json"))
    files += sorted((eval_dir / "jaeger-skills").glob("*.json"))
    files += sorted((eval_dir / "jaeger-ui").rglob("*.json"))
    files += sorted((eval_dir / "jaeger").glob("*.json"))
    checked = 0
    for path in files:
        try:
            table = eval_table(path)
        except Exception:  # not a trace file (expected results, UI state)
            continue
        assert_same(table, path.name)
        checked += 1
    assert checked > 30


def test_random_call_trees_and_messy_rows() -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    spans: list[Any] = [s for t in range(300) for s in _messy_trace(rng, f"t{t:03d}")]
    spans += [s for t in range(300) for s in _messy_trace(rng, f"d{t:03d}", with_duplicates=True)]
    spans += bench.generate(300, seed=seed)
    assert_same(bench.to_table(spans), f"seed {seed}")
    shift = -bench.EPOCH_US - 50_000_000_000
    assert_same(
        bench.to_table([(*s[:6], s[6] + shift, s[7] + shift, s[8]) for s in spans]),
        f"before 1970, seed {seed}",
    )


def _messy_messages(rng: random.Random, trace: str) -> list[dict[str, Any]]:
    """Random messaging spans in every convention's words: nested sends of one service (pika),
    consumers below sends or linking to them, settlements that reject, NULL statuses and
    services, orphans after sends, parent cycles and span ids stored twice."""
    n = rng.randrange(1, 25)
    ids = [f"m{i:02d}" for i in range(n)]
    spans: list[dict[str, Any]] = []
    for i, span_id in enumerate(ids):
        roll = rng.random()
        if i == 0:
            parent = None
        elif roll < 0.1:
            parent = "gone"  # an orphan
        elif roll < 0.15:
            parent = rng.choice(ids)  # may close a cycle
        else:
            parent = ids[rng.randrange(max(0, i - 3), i)]  # deep chains of near neighbours
        attrs: dict[str, str] = {}
        if rng.random() < 0.7:
            attrs["messaging.system"] = "rabbitmq"
        if rng.random() < 0.6:
            key = rng.choice(["messaging.operation.type", "messaging.operation"])
            attrs[key] = rng.choice(
                ["publish", "deliver", "create", "send", "receive", "process", "settle", "Send"]
            )
        if rng.random() < 0.6:
            key = rng.choice(["messaging.destination.name", "messaging.destination"])
            attrs[key] = rng.choice(["orders", "audit", ""])
        if rng.random() < 0.5:
            key = rng.choice(["messaging.message.id", "messaging.message_id"])
            attrs[key] = rng.choice(["id-1", "id-2", "id-3"])
        if rng.random() < 0.2:
            attrs["messaging.operation.name"] = rng.choice(["nack", "ack", "dead_letter"])
        if rng.random() < 0.1:
            attrs["http.status_code"] = rng.choice(["200", "503"])
        start = rng.randrange(0, 2_000)
        span: dict[str, Any] = {
            "trace": trace,
            "id": span_id,
            "parent": parent,
            "service": rng.choice(["pub", "pub", "sub", "sub", "other", None]),
            "op": f"op{i % 3}",
            "kind": rng.choice(["producer", "producer", "consumer", "consumer", "internal", None]),
            "start": start,
            "end": start + rng.randrange(0, 500),
            "status": rng.choice(["OK", "ERROR", "UNSET", None]),
            "attrs": attrs,
        }
        if rng.random() < 0.15:
            span["links"] = [
                (rng.choice([trace, "elsewhere"]), rng.choice(ids))
                for _ in range(rng.randrange(1, 3))
            ]
        spans.append(span)
    if rng.random() < 0.3:
        # a second row for one span id, of another length (as _messy_trace makes them)
        twice = dict(rng.choice(spans))
        twice.update(
            parent=rng.choice(ids),  # perhaps itself: a cycle through the two rows
            status=rng.choice(["ERROR", None]),
            service=rng.choice(["pub", "sub"]),
            end=twice["end"] + rng.randrange(1, 300),
        )
        spans.append(twice)
    return spans


MESSAGE_VIEWS = (
    "message_producers",
    "consumer_spans",
    "span_links",
    "message_children",
    "message_orphans",
)


def test_messy_messaging_spans() -> None:
    """The messages' views, and self times: children here often overflow their parents, so
    clipped to the parent they are often equal (the SQL once counted such an interval twice).
    Not the other views: a span id stored twice can close a parent cycle, on which the SQL's
    recursive walks (error origins) never end."""
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    spans = [s for t in range(400) for s in _messy_messages(rng, f"q{t:03d}")]
    got = assert_same(span_table(spans), f"seed {seed}", (*MESSAGE_VIEWS, "span_self_time"))
    # the walks, the joins and the orphans all had rows to compare
    for name in MESSAGE_VIEWS:
        assert got[name].num_rows > 0, f"seed {seed}: {name}"
    assert max(got["message_producers"]["depth"].to_pylist()) >= 2, f"seed {seed}"


def test_empty_input() -> None:
    assert_same(SPAN_SCHEMA.empty_table(), "empty")


@pytest.mark.slow
@pytest.mark.parametrize(
    "scenario", ["baseline", "queue-loss", "api-errors", "mes-saturated", "adr-coverage"]
)
def test_simulated_scenarios(scenario: str) -> None:
    from tracekit.simulate import simulate

    seed = random.randrange(1_000_000)
    result = simulate(scenario, duration_s=600, seed=seed, start="2026-01-05T18:00:00Z")
    assert_same(
        pa.Table.from_batches(result.batches).select(SPAN_SCHEMA.names), f"{scenario} {seed}"
    )
