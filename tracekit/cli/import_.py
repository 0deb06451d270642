"""``tracekit import PATH... --out DATASET [--skip-bad]``: trace files into a dataset."""

from __future__ import annotations

import click

from tracekit.cli.failures import writing
from tracekit.importers.import_files import import_files


@click.command("import")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--out",
    "dataset",
    required=True,
    type=click.Path(),
    help="Dataset folder (created when missing).",
)
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Import the good traces/spans/lines of a bad file; report what was skipped.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Files read at once: Jaeger JSON by threads (the compiled converter), OTLP JSON by "
    "worker processes (default: one per CPU, at most 4 and as many as memory holds, for 64 MB "
    "or more of files; else 1: one file at a time, in this process).",
)
def command(paths: tuple[str, ...], dataset: str, skip_bad: bool, jobs: int | None) -> None:
    """Import Jaeger JSON or OTLP JSON files (plain or gzip; - for stdin) into DATASET.

    All files are imported in one atomic write: any error leaves the dataset as it was.
    """
    with writing(dataset):
        result = import_files(paths, dataset, skip_bad=skip_bad, jobs=jobs)
    for report in result.files:
        if report.skips:
            click.echo(f"{report.name}: {report.skips.summary()}", err=True)
    count = len(result.files)
    click.echo(
        f"imported {count} file{'s' if count != 1 else ''}"
        + (f" ({', '.join(result.formats)})" if result.formats else "")
        + f" into {dataset}: {result.write.offered} spans read, {result.write.added} added, "
        f"{result.write.duplicates} duplicates skipped"
        + (f", {result.skipped} bad records skipped" if skip_bad else "")
    )
