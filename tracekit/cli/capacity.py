"""``tracekit capacity DATASET``: what saturates first, and latencies, as orders grow."""

from __future__ import annotations

import sys

import click
import pyarrow as pa

from tracekit.cli.options import memory_limit_option
from tracekit.errors import UserError
from tracekit.output import FORMATS, write_result
from tracekit.report.params import check_multipliers, check_slo_p95_ms


def parse_multipliers(text: str) -> list[float]:
    """``"1,2,5,10"`` -> ``[1.0, 2.0, 5.0, 10.0]``; UserError for anything else.

    >>> parse_multipliers("1, 2.5,10")
    [1.0, 2.5, 10.0]
    """
    return check_multipliers(text, name="--multipliers")


@click.command("capacity")
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option(
    "--multipliers",
    default="1,2,5,10",
    show_default=True,
    help="Load multipliers to forecast (1 = the load in the data).",
)
@click.option(
    "--slo-p95-ms",
    type=float,
    default=None,
    help="p95 target (ms) of the latency callers see; adds workers_needed.",
)
@click.option(
    "--workers",
    "workers_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML file of worker counts per service (`mes: 8`), overriding measured ones.",
)
@click.option(
    "--window",
    "window_s",
    type=int,
    default=300,
    show_default=True,
    help="Window length in seconds: smooths the load curve (rates are counted over the time "
    "the data covers).",
)
@click.option(
    "--model",
    type=click.Choice(["M/G/c", "Allen-Cunneen", "M/M/c", "replay"]),
    default="M/G/c",
    show_default=True,
    help="How waits are drawn (docs/capacity.md compares them).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@memory_limit_option
def command(
    dataset: str,
    multipliers: str,
    slo_p95_ms: float | None,
    workers_file: str | None,
    window_s: int,
    model: str,
    fmt: str,
    memory_limit: str | None,
) -> None:
    """Forecast each component of DATASET at load MULTIPLIERS: its concurrency limit and how it
    was inferred, utilization of its busiest period, p50/p95 of the latency its callers see,
    when it saturates (with a 90% band), and workers needed for a p95 target."""
    from tracekit.capacity import capacity_plan  # numpy/pandas only when the command runs
    from tracekit.capacity.stretch import replay_stretch
    from tracekit.connect import connect

    factors = parse_multipliers(multipliers)
    if slo_p95_ms is not None:
        slo_p95_ms = check_slo_p95_ms(slo_p95_ms, name="--slo-p95-ms")
    if window_s <= 0:
        raise UserError(f"--window: must be a positive number of seconds, got {window_s}")
    con = connect(dataset, memory_limit=memory_limit)
    stretch = None
    try:
        stretch = replay_stretch(con)
        if stretch is not None:
            stretch.narrow(con)
        plan = capacity_plan(con, factors, slo_p95_ms, workers_file, window_s, model=model)
    finally:
        con.close()
    if stretch is not None:
        plan.notes.insert(0, stretch.sentence)
        if fmt != "table":  # standard output is the machine-readable plan alone
            click.echo(f"note: {stretch.sentence}", err=True)
    write_result(pa.Table.from_pandas(plan.table, preserve_index=False), fmt, sys.stdout)
    if fmt == "table":
        for limit in plan.limits.itertuples():
            click.echo(f"limit: {limit.component}: {limit.evidence} ({limit.confidence})")
        if plan.first is not None:
            click.echo(f"first to saturate: {plan.first.sentence}")
        for note in plan.notes:
            if plan.first is None or note != plan.first.sentence:
                click.echo(f"note: {note}")
