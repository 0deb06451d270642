"""``tracekit upgrade DATASET``: store the per-trace results of a dataset from an older tracekit."""

from __future__ import annotations

import click

from tracekit.dataset.upgrade import upgrade


@click.command("upgrade")
@click.argument("dataset", type=click.Path(file_okay=False))
def command(dataset: str) -> None:
    """Upgrade DATASET, written by an older tracekit, to the current format: compute and store
    its per-trace and cross-trace results (one atomic commit). A write upgrades a dataset too."""
    from tracekit.dataset import require_dataset

    require_dataset(dataset)
    if upgrade(dataset):
        click.echo(f"upgraded {dataset}: per-trace and cross-trace results stored")
    else:
        click.echo(f"{dataset}: already current; nothing to do")
