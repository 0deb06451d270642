"""``tracekit report NAME|all --data DATASET [--out DIR] [-p KEY VALUE]... [--since 24h]``."""

from __future__ import annotations

from pathlib import Path

import click

from tracekit.cli.options import kernel_memory_limit, memory_limit_option
from tracekit.report.notebooks import NOTEBOOKS


@click.command("report")
@click.argument("name", metavar=f"{'|'.join(NOTEBOOKS)}|all")
@click.option(
    "--data",
    "dataset",
    required=True,
    metavar="DATASET",
    help="The tracekit dataset folder the reports read.",
)
@click.option(
    "--out",
    default="reports",
    show_default=True,
    metavar="DIR",
    help="Where run folders and index.html go.",
)
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    nargs=2,
    metavar="KEY VALUE",
    help="A notebook parameter (repeatable); lists as a,b,c.",
)
@click.option(
    "--since",
    default=None,
    metavar="DURATION",
    help="Window length back from the newest span, e.g. 24h (same as -p since 24h).",
)
@click.option("--label", default=None, help="A tag for these runs in index.html.")
@memory_limit_option
def command(
    name: str,
    dataset: str,
    out: str,
    params: tuple[tuple[str, str], ...],
    since: str | None,
    label: str | None,
    memory_limit: str | None,
) -> int:
    """Run report notebooks with papermill into OUT/NAME/STAMP/ (report.ipynb, report.html,
    params.yaml) and refresh OUT/index.html.

    Exit status: 0 when every report ran, 1 when a notebook failed (its partial output is kept
    and the failing cell named), 2 for a bad name, dataset or parameter (nothing is run).
    """
    from tracekit.report.runner import RunResult, run_reports

    kernel_memory_limit(memory_limit)
    text_params = dict(params)
    if since is not None:
        text_params["since"] = since

    def show(result: RunResult) -> None:
        where = result.html if result.html.exists() else result.folder
        if result.ok:
            click.echo(f"{result.name}: ok in {result.seconds:.1f}s -> {where}")
        else:
            click.echo(
                f"tracekit: {result.name} failed after {result.seconds:.1f}s: "
                f"{result.error}; partial output in {where}",
                err=True,
            )

    results = run_reports(name, dataset, out, text_params=text_params, label=label, on_result=show)
    click.echo(f"index: {Path(out) / 'index.html'}")
    failed = [r for r in results if not r.ok]
    if failed:
        return 2 if all(r.user_error for r in failed) else 1
    return 0
