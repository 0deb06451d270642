"""``tracekit repair DATASET``: rebuild a lost or damaged manifest from the span files."""

from __future__ import annotations

import click

from tracekit.dataset.repair import repair


@click.command("repair")
@click.argument("dataset", type=click.Path(file_okay=False))
def command(dataset: str) -> None:
    """Rebuild DATASET's manifest from its span files after it was lost or damaged.

    Adopts every date=*/part-*.parquet file holding span rows, leaves other files alone, and
    recomputes the per-trace results.
    """
    result = repair(dataset)
    if result.damaged_manifest:
        click.echo(f"kept the damaged manifest as {result.damaged_manifest}")
    for path, reason in sorted(result.ignored.items()):
        click.echo(f"left alone: {path}: {reason}", err=True)
    click.echo(
        f"repaired {dataset}: adopted {len(result.adopted)} span files ({result.spans} spans), "
        "per-trace results recomputed"
    )
