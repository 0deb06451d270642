"""``tracekit sql DATASET "QUERY"``: ad-hoc read-only SQL on the dataset's views."""

from __future__ import annotations

import sys

import click

from tracekit.output import FORMATS, write_result
from tracekit.query import run_query


@click.command("sql")
@click.argument("dataset", type=click.Path(file_okay=False))
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def command(dataset: str, query: str, fmt: str) -> None:
    """Run a read-only SQL QUERY on DATASET's views (spans, traces, critical_path, ...)."""
    write_result(run_query(dataset, query), fmt, sys.stdout)
