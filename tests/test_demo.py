"""`tracekit demo`: simulated datasets with truth, reports, an index; reruns reuse the data."""

from __future__ import annotations

import json
from pathlib import Path

from tracekit.dataset import read_manifest
from tracekit.demo import DEMO_DATASETS, DemoDataset, run_demo


def test_demo_plan_covers_every_report_and_the_incidents() -> None:
    reports = {name for demo in DEMO_DATASETS for name in demo.reports}
    assert reports == {"explore", "bottlenecks", "order_loss", "capacity", "compare"}
    names = [demo.name for demo in DEMO_DATASETS]
    for demo in DEMO_DATASETS:  # compare's "before" is simulated before it runs
        assert demo.compare_with is None or names.index(demo.compare_with) < names.index(demo.name)
    assert {demo.scenario for demo in DEMO_DATASETS} >= {"baseline", "queue-loss", "mes-saturated"}


def test_demo_simulates_reports_and_reuses_its_data(tmp_path: Path) -> None:
    plan = (DemoDataset("tiny", "queue-loss", "2026-01-06T18:00:00Z", 0.25, ("explore",)),)
    lines: list[str] = []
    index, results = run_demo(
        tmp_path / "data", tmp_path / "reports", datasets=plan, echo=lines.append
    )
    assert [r.status for r in results] == ["ok"], results
    dataset = tmp_path / "data" / "tiny"
    truth = json.loads((tmp_path / "data" / "tiny.truth.json").read_text())
    manifest = read_manifest(dataset)
    assert manifest.counts["spans"] > 0
    assert manifest.sources[0].details["scenario"] == "queue-loss"
    assert truth["scenario"] == "queue-loss" and truth["orders"] > 0
    assert index.exists() and "tiny" in index.read_text()
    assert results[0].html.exists()

    files_before = sorted(p.name for p in dataset.rglob("*.parquet"))
    lines.clear()
    _, again = run_demo(tmp_path / "data", tmp_path / "reports", datasets=plan, echo=lines.append)
    assert any("reusing" in line for line in lines)
    assert sorted(p.name for p in dataset.rglob("*.parquet")) == files_before
    assert index.read_text().count("tiny") >= 2  # both runs are listed
