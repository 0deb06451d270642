"""``tracekit sql DATASET "QUERY"``: ad-hoc read-only SQL on the dataset's views."""

from __future__ import annotations

import sys

import click

from tracekit.cli.options import memory_limit_option
from tracekit.limits import timeout_seconds
from tracekit.output import FORMATS, write_result
from tracekit.query import run_query


@click.command("sql")
@click.argument("dataset", type=click.Path(file_okay=False))
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Stop the query after this many seconds (default: no limit).",
)
@memory_limit_option
def command(
    dataset: str, query: str, fmt: str, timeout_s: float | None, memory_limit: str | None
) -> None:
    """Run a read-only SQL QUERY on DATASET's views (spans, traces, critical_path, ...).

    Several statements separated by ; run in order; the last one's result is printed.
    Ctrl-C stops a running query at once.
    """
    table = run_query(
        dataset, query, timeout_s=timeout_seconds(timeout_s), memory_limit=memory_limit
    )
    write_result(table, fmt, sys.stdout)
