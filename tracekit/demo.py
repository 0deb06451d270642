"""``run_demo``: the embedded default end to end — simulate the workshop, then run every report.

The demo day is the ``baseline`` scenario over 24 simulated hours plus two incidents, each in its
own dataset so each report tells one story: ``queue-loss`` (messages to CRM lost) and
``mes-saturated`` (MES at capacity in the evening peak). Datasets are made once: a rerun with
the same settings reuses them and only runs the reports again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracekit.dataset import MANIFEST, read_manifest, write_spans


@dataclass(frozen=True)
class DemoDataset:
    """One simulated dataset of the demo and the reports run on it."""

    name: str
    scenario: str
    start: str
    hours: float
    reports: tuple[str, ...]
    compare_with: str | None = None  # another demo dataset: the "before" of its compare report


DEMO_DATASETS = (
    DemoDataset(
        "workshop-day",
        "baseline",
        "2026-01-05T00:00:00Z",
        24,
        ("explore", "bottlenecks", "order_loss", "capacity"),
    ),
    DemoDataset("queue-loss", "queue-loss", "2026-01-06T17:00:00Z", 3, ("order_loss",)),
    DemoDataset(
        "mes-saturated",
        "mes-saturated",
        "2026-01-07T17:00:00Z",
        3,
        ("bottlenecks", "capacity", "compare"),
        compare_with="workshop-day",  # the incident's evening against the end of a normal day
    ),
)


def run_demo(
    data_dir: str | Path = "data/demo",
    reports_dir: str | Path = "reports",
    *,
    seed: int = 1,
    scale: float = 1.0,
    datasets: tuple[DemoDataset, ...] = DEMO_DATASETS,
    echo: Callable[[str], None] = print,
) -> tuple[Path, list[Any]]:
    """Simulate the demo datasets into ``data_dir`` and run their reports into ``reports_dir``.

    ``scale`` shortens every simulated period (tests use a small one). Returns the path of
    ``reports_dir/index.html`` and the report results; a failed report does not stop the others.
    """
    from tracekit.report.runner import run_reports

    results: list[Any] = []
    for demo in datasets:
        dataset = Path(data_dir) / demo.name
        _ensure_simulated(dataset, demo, seed=seed, hours=demo.hours * scale, echo=echo)
        since = f"{max(1, round(demo.hours * scale))}h"
        params = {"since": since}
        if demo.compare_with:
            params["before"] = str(Path(data_dir) / demo.compare_with)
        for result in run_reports(
            list(demo.reports), dataset, reports_dir, params, label=demo.name
        ):
            echo(
                f"report {result.name:<12} on {demo.name:<14} {result.status:<6} "
                f"{result.seconds:6.1f}s  {result.html}"
            )
            results.append(result)
    return Path(reports_dir) / "index.html", results


def _ensure_simulated(
    dataset: Path, demo: DemoDataset, *, seed: int, hours: float, echo: Callable[[str], None]
) -> None:
    from tracekit.simulate import simulate

    wanted = {"scenario": demo.scenario, "seed": seed, "duration_s": hours * 3600}
    if (dataset / MANIFEST).exists():
        sources = read_manifest(dataset).sources
        if any(all(src.details.get(k) == v for k, v in wanted.items()) for src in sources):
            echo(f"simulate {demo.name}: reusing {dataset}")
            return
        shutil.rmtree(dataset)  # a demo dataset made with other settings: make it anew
    echo(f"simulate {demo.name}: scenario {demo.scenario}, {hours:g} h from {demo.start} ...")
    result = simulate(demo.scenario, duration_s=hours * 3600, seed=seed, start=demo.start)
    written = write_spans(dataset, result.batches, source=result.source())
    truth = dataset.parent / f"{demo.name}.truth.json"
    result.write_truth(truth)
    echo(
        f"simulate {demo.name}: {written.added} spans, "
        f"{result.truth['orders']} orders, bottleneck {result.truth['bottleneck']} -> {dataset}"
    )
