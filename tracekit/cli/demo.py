"""``tracekit demo``: simulate the workshop (a day plus two incidents) and run every report."""

from __future__ import annotations

import click

from tracekit.cli.options import kernel_memory_limit, memory_limit_option
from tracekit.demo import run_demo


@click.command("demo")
@click.option(
    "--data",
    "data_dir",
    default="data/demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the demo datasets go.",
)
@click.option(
    "--out",
    "reports_dir",
    default="reports",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the reports go.",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Simulation seed.")
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.01, 10),
    help="Multiply every simulated period (0.1 = a quick look).",
)
@memory_limit_option
def command(
    data_dir: str, reports_dir: str, seed: int, scale: float, memory_limit: str | None
) -> int:
    """The embedded default end to end: simulate, then run every report."""
    kernel_memory_limit(memory_limit)
    index, results = run_demo(data_dir, reports_dir, seed=seed, scale=scale, echo=click.echo)
    failed = [r for r in results if r.status != "ok"]
    click.echo(
        f"\n{len(results) - len(failed)} of {len(results)} reports ok; open {index.resolve()}"
    )
    return 1 if failed else 0
