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


def assert_same(table: pa.Table, label: str) -> None:
    """The kernel's tables and self times equal the SQL views' over ``table``."""
    con = rows_connection(table)
    got = compute_per_trace(table)
    for name in PER_TRACE_VIEWS:
        want = con.sql(f"SELECT * FROM {name}").to_arrow_table()
        mine = got.tables[name]
        assert mine.schema == want.schema, f"{label}: {name}"
        assert sorted(mine.to_pylist(), key=repr) == sorted(want.to_pylist(), key=repr), (
            f"{label}: {name}"
        )
    want_self = con.sql("SELECT self_us FROM spans").to_arrow_table()["self_us"]
    assert got.self_us.to_pylist() == want_self.to_pylist(), f"{label}: self_us"


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
