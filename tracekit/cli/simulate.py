"""``tracekit simulate``: simulated workshop traces with ground truth (see docs/simulator.md)."""

from __future__ import annotations

import secrets
import tempfile
from collections import Counter
from pathlib import Path

import click

from tracekit.errors import UserError
from tracekit.simulate import builtin_scenarios, load_scenario, parse_duration, simulate
from tracekit.simulate.simulation import SimulationResult


@click.command("simulate")
@click.option(
    "--out",
    "out",
    metavar="DATASET",
    type=click.Path(file_okay=False),
    help="Write the spans into this Parquet dataset (created if missing).",
)
@click.option(
    "--scenario",
    default="baseline",
    show_default=True,
    metavar="NAME|FILE",
    help=f"A built-in scenario ({', '.join(builtin_scenarios())}) or a YAML file.",
)
@click.option(
    "--duration",
    default="1h",
    show_default=True,
    help="Simulated time of arrivals, e.g. 30m, 1h, 1d.",
)
@click.option(
    "--load",
    default=1.0,
    show_default=True,
    type=float,
    help="Multiplier of every flow's daily curve.",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Random seed; the same seed and --start give identical output. Default: random.",
)
@click.option(
    "--truth",
    "truth_path",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Write the ground truth as JSON here.",
)
@click.option(
    "--otlp",
    "otlp_url",
    metavar="URL",
    help="Also send the spans over OTLP/HTTP, e.g. http://localhost:4318.",
)
@click.option(
    "--start",
    metavar="ISO-TIME",
    help="Simulated start (UTC unless an offset is given). Default: DURATION ago.",
)
def command(
    out: str | None,
    scenario: str,
    duration: str,
    load: float,
    seed: int | None,
    truth_path: str | None,
    otlp_url: str | None,
    start: str | None,
) -> None:
    """Simulate the jewellery workshop's order pipeline and emit its spans.

    Writes the spans to --out DATASET and/or sends them to --otlp URL; --truth FILE gets the
    ground truth (utilization, bottleneck, lost orders and messages, orphaned spans).
    """
    if out is None and otlp_url is None:
        raise UserError("tracekit simulate: give --out DATASET and/or --otlp URL")
    duration_s = parse_duration(duration, "--duration")
    if duration_s <= 0:
        raise UserError(f"--duration: must be positive, got {duration!r}")
    if seed is not None and seed < 0:
        raise UserError(f"--seed: must be a non-negative integer, got {seed}")
    if otlp_url is not None:
        from tracekit.simulate.otlp import check_reachable

        check_reachable(otlp_url)  # a bad or dead URL fails before the simulation runs
    if truth_path is not None and not Path(truth_path).resolve().parent.is_dir():
        raise UserError(f"--truth {truth_path}: its folder does not exist")
    spec = load_scenario(scenario)
    if seed is None:
        seed = secrets.randbelow(2**31)
    # The spans wait in a file of the temporary folder ($TMPDIR), not in memory, until they
    # are sent and written: 50 simulated days of the workshop are ~5 GB of batches.
    with tempfile.TemporaryDirectory(prefix="tracekit-simulate-") as spill:
        try:
            result = simulate(
                spec,
                duration_s=duration_s,
                load=load,
                seed=seed,
                start=start,
                spill=Path(spill) / "spans.arrow",
            )
        except OSError as exc:
            raise UserError(
                f"tracekit simulate: cannot keep the simulated spans in {spill}: "
                f"{exc.strerror or exc}; set TMPDIR to a folder with room"
            ) from exc
        _emit(result, spec.name, duration, load, seed, out, otlp_url, truth_path)


def _emit(
    result: SimulationResult,
    name: str,
    duration: str,
    load: float,
    seed: int,
    out: str | None,
    otlp_url: str | None,
    truth_path: str | None,
) -> None:
    """Report the run, send and write its spans, and write its truth."""
    truth = result.truth
    spans = result.spans
    reasons = Counter(lost["reason"] for lost in truth["lost_orders"])
    lost = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) or "none"
    click.echo(
        f"simulated {name}: {duration} from {result.start.isoformat()}Z, load {load:g}, "
        f"seed {seed}: {spans} spans, {truth['orders']} orders (lost: {lost}), "
        f"{len(truth['lost_messages'])} lost messages, {truth['orphaned_spans']} orphaned spans, "
        f"bottleneck {truth['bottleneck']}"
    )
    # The live receiver first: if it fails, nothing has been stored locally yet.
    if otlp_url is not None:
        from tracekit.simulate.otlp import send_otlp

        sent = send_otlp(result.batches, otlp_url)
        click.echo(f"sent {sent} spans to {otlp_url} over OTLP/HTTP")
    if out is not None:
        from tracekit.cli.failures import writing
        from tracekit.dataset import write_spans

        with writing(out):
            written = write_spans(out, result.batches, source=result.source())
        click.echo(f"wrote {written.added} spans to {out}")
    if truth_path is not None:
        result.write_truth(truth_path)
        click.echo(f"truth: {truth_path}")
