"""``tracekit info DATASET``: spans, traces, services, time range and orphan spans."""

from __future__ import annotations

import json
import sys

import click
import pyarrow as pa

from tracekit.cli.options import memory_limit_option
from tracekit.info import dataset_info
from tracekit.output import write_result


@click.command("info")
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@memory_limit_option
def command(dataset: str, fmt: str, memory_limit: str | None) -> None:
    """Summarise DATASET: spans, traces, services, time range, orphan spans."""
    info = dataset_info(dataset, memory_limit=memory_limit)
    services: pa.Table = info.pop("services")
    if fmt == "json":
        info["services"] = services.to_pylist()
        json.dump(info, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
        return
    click.echo(
        f"dataset  {info['dataset']}  (schema v{info['schema_version']}, "
        f"{info['files']} files, {info['sources']} sources)"
    )
    width = max(len(key) for key in info["totals"])
    for key, value in info["totals"].items():
        click.echo(f"{key.ljust(width)}  {value}")
    click.echo("")
    write_result(services, "table", sys.stdout)
