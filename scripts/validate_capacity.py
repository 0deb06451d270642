"""Validate the capacity forecast against the simulator and write docs/capacity.md.

For each configuration (start hour, multiplier M) and seed: simulate `baseline` for an hour at
load 1 and at load M, forecast M from the load-1 dataset alone, and compare with what the load-M
run measured and with the truth files (which the forecast never reads). Every number in
docs/capacity.md comes from this script::

    .venv/bin/python scripts/validate_capacity.py            # writes docs/capacity.md
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from tracekit.capacity import capacity_plan
from tracekit.capacity.validation import compare
from tracekit.dataset import write_spans
from tracekit.simulate import simulate

REPO = Path(__file__).resolve().parent.parent
# (start hour, M, inside the validated range): the last one pushes mes's busiest window to
# 0.8-1.0 to show where steady-state queueing stops describing a 5-minute window.
CONFIGS = (("19:00", 1.5, True), ("09:00", 2.5, True), ("19:00", 2.0, False))
SEEDS = (1, 2, 3, 4, 5)
P95_LIMIT, SATURATION_LIMIT = 0.25, 0.15


def run(start: str, load: float, seed: int, folder: Path) -> tuple[Path, dict]:
    result = simulate(
        "baseline", duration_s=3600, load=load, seed=seed, start=f"2026-01-05T{start}:00Z"
    )
    path = folder / f"{start.replace(':', '')}-{load:g}-{seed}"
    write_spans(path, result.batches, source=result.source())
    return path, result.truth


def markdown(frame: pd.DataFrame, floats: str = "{:.3g}") -> str:
    def cell(value: object) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return floats.format(value)
        return str(value)

    lines = [
        "| " + " | ".join(frame.columns) + " |",
        "|" + "|".join("---" for _ in frame.columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def pct(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{value * 100:+.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "capacity.md"))
    args = parser.parse_args()
    sections, summary, spread = [], [], []
    example = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for start, multiplier, validated in CONFIGS:
            for seed in SEEDS:
                base, truth = run(start, 1.0, seed, folder)
                high, truth_high = run(start, multiplier, seed, folder)
                table = compare(base, high, multiplier, truth, truth_high)
                bottleneck = truth["bottleneck"]
                row = table.set_index("service").loc[bottleneck]
                worst = table.loc[table["p95_error"].abs().idxmax()]
                measured = table.set_index("service")["measured_p95_ms"]
                spread.append({"start": start, "M": multiplier, "seed": seed, **measured.to_dict()})
                summary.append(
                    {
                        "start (UTC)": start,
                        "M": multiplier,
                        "seed": seed,
                        "validated range": validated,
                        "forecast util. at M (bottleneck)": row["forecast_utilization"],
                        "true peak util. at M (bottleneck)": row["true_peak_utilization"],
                        "worst p95 error": f"{pct(worst['p95_error'])} ({worst['service']})",
                        "within 25%": bool(table["p95_error"].abs().max() <= P95_LIMIT),
                        "bottleneck": bottleneck,
                        "forecast first to saturate": table.attrs["first_to_saturate"],
                        "forecast saturation": row["forecast_saturation"],
                        "true saturation_load": row["true_saturation_load"],
                        "saturation error": pct(row["saturation_error"]),
                        "within 15%": bool(abs(row["saturation_error"]) <= SATURATION_LIMIT),
                    }
                )
                if seed == SEEDS[0] and validated:
                    shown = table.copy()
                    shown["p95_error"] = shown["p95_error"].map(pct)
                    shown["saturation_error"] = shown["saturation_error"].map(pct)
                    shown = shown.drop(columns=["multiplier"])
                    sections.append((start, multiplier, seed, shown))
                    if example is None:
                        example = capacity_plan(base, [1, 1.5, 2, 3], slo_p95_ms=8000)
    assert example is not None
    out = Path(args.out)
    out.write_text(render(sections, pd.DataFrame(summary), pd.DataFrame(spread), example))
    print(f"wrote {out}")


def render(sections: list, summary: pd.DataFrame, spread: pd.DataFrame, example) -> str:
    inside = summary[summary["validated range"]]
    passed_p95 = int(inside["within 25%"].sum())
    passed_sat = int(inside["within 15%"].sum())
    total = len(inside)
    outside = summary[~summary["validated range"]]
    largest = inside.loc[inside["worst p95 error"].map(_size).idxmax()]
    worst_inside = (
        f"{largest['worst p95 error']} at {largest['start (UTC)']}, M = "
        f"{largest['M']:g}, seed {largest['seed']}"
    )
    parts = [
        HEADER.strip(),
        "",
        "## Validation against the simulator",
        "",
        VALIDATION_TEXT.strip(),
        "",
        f"Across the {total} runs below the forecast p95 of every component was within 25% "
        f"of the simulated one in {passed_p95} of {total}, and the bottleneck's saturation "
        f"multiplier within 15% of the truth's `saturation_load` in {passed_sat} of "
        f"{total}; the largest p95 error there was {worst_inside}. Beyond that range "
        f"(the last {len(outside)} rows, forecast utilization "
        f"of the busiest mes window {outside['forecast util. at M (bottleneck)'].min():.2f}"
        f"-{outside['forecast util. at M (bottleneck)'].max():.2f}) p95 was within 25% in "
        f"{int(outside['within 25%'].sum())} of {len(outside)}.",
        "",
        markdown(summary),
        "",
        "How much one simulated hour varies: the measured p95 (ms) at load M of each "
        "component across the five seeds (the forecast cannot be closer to a single run "
        "than runs are to each other):",
        "",
        markdown(spread_table(spread)),
        "",
    ]
    for start, multiplier, seed, table in sections:
        parts += [
            f"### Start {start} UTC, load 1 -> {multiplier:g}, seed {seed}",
            "",
            markdown(table),
            "",
        ]
    parts += [
        "## Example: `tracekit capacity` on the 19:00 load-1 run (seed 1)",
        "",
        "`--multipliers 1,1.5,2,3 --slo-p95-ms 8000`:",
        "",
        markdown(example.table.drop(columns=["model", "arrivals_per_s"])),
        "",
        f"First to saturate: **{example.first_to_saturate}**.",
        "",
    ]
    parts += [f"- note: {note}" for note in example.notes]
    parts += [
        "",
        "Model choice and fit to the observed windows (`plan.models`):",
        "",
        markdown(example.models.drop(columns=["usl_note", "usl_kappa"])),
        "",
        LIMITS.strip(),
        "",
    ]
    return "\n".join(parts)


def _size(text: str) -> float:
    """abs of the percentage in "+12.3% (service)"."""
    return abs(float(text.split("%")[0]))


def spread_table(spread: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (start, multiplier), group in spread.groupby(["start", "M"], sort=False):
        values = group.drop(columns=["start", "M", "seed"]).dropna(axis=1, how="all")
        rows.append(
            {
                "start (UTC)": start,
                "M": multiplier,
                **{
                    name: f"{values[name].min():.0f}-{values[name].max():.0f}"
                    for name in values.columns
                },
            }
        )
    return pd.DataFrame(rows)


HEADER = """
# Capacity planning: how the forecast works and how well it does

<!-- generated by scripts/validate_capacity.py; do not edit by hand -->

`tracekit capacity DATASET` (and `tracekit.capacity.capacity_plan` from Python) answers "at 2x,
5x, 10x today's orders, which component saturates first, what do latencies become, how many
workers does each component need?" from the traces alone.

**Windows.** A component is a service whose workers do SERVER or CONSUMER spans. Per 5-minute
window: arrivals (spans started), service time (span duration, since a thread-per-request worker
is held for the whole span; self time is reported too), waiting time (the caller's CLIENT span
time outside the server span, or for a consumer the time from the producer span's end to its
start), concurrency by Little's law (busy time / window) and the most spans open at once per
`service.instance.id`. Workers = the sum over instances of that maximum, unless a workers file
names the service. The count is only a lower bound when callers never saw the component queue
(`workers_known` is false then): a service that is never full does not show its size. Such a
component's utilization and saturation use the bound (pessimistic), but no wait is modelled for
it in the latencies (there is no evidence of one); a workers file makes it modelled.

**Model.** Each component is an M/G/c queue per window: Erlang C gives the chance to wait, the
Allen-Cunneen correction scales the M/M/c wait by (1 + cv^2)/2 with the measured service-time
cv^2 (the table says "M/M/c" when cv^2 is within 0.15 of 1, where both agree). Waits are modelled
at the arrival rate averaged over 15 minutes (a single 5-minute count is noisy, and a multiplier
would scale its noise too). The Universal Scalability Law is fitted to (concurrency, throughput)
windows as a cross-check when 12+ windows hold at least one request in service on average and
span a 2x range of concurrency and of throughput; the baseline scenario is too lightly loaded for
that (below one request in service nearly all the time), so these runs report no USL fit.

**Forecast.** A multiplier scales every window's arrivals. The real traces are replayed callees
first: each server span gets a wait drawn from its window's model at the new load, and the change
in what its caller saw is added to the caller's span (the caller holds its worker while waiting;
calls made at once count by the latest of them, calls in sequence add up), so slow-downs compose
along each trace's own call tree up to the entry requests (end-to-end latency,
`plan.end_to_end`). `utilization` is the busiest window's; the saturation multiplier is
the load at which that reaches 1 (found by bisection with the callees' slow-down included);
`workers_needed` is the fewest workers that keep the p95 callers see under the target in the
busiest window.
"""

VALIDATION_TEXT = """
Each run simulates the `baseline` scenario for one hour at load 1 and at load M with the same
seed. The forecast for M is made from the load-1 dataset alone; "measured" is the p95 of the
latency callers saw in the load-M dataset (the caller's client span, or the span itself for
entry requests whose callers are not traced); truth values come from the simulator's truth
files, which tracekit never reads. In the 19:00 runs (the evening order peak) mes is at about
35-45% at load 1; the 09:00 runs start from a quieter hour with workshop operators also using
MES. The tests (`tests/test_capacity_validation.py`) keep the 19:00 configuration for seeds 1
and 5 and the 09:00 one for seed 1.
"""

LIMITS = """
## Limits

- Steady-state queueing in 5-minute windows: a window forecast close to utilization 1 gets a
  very long wait that a real 5-minute burst would not reach, so multipliers that bring the
  busiest window above ~0.8 overstate p95 (the 19:00 M = 2 rows of the summary).
- The p95 of the order path is set by mes, two single-threaded workers with 3.6 s requests: an
  hour holds few long queues, so the p95 one simulated hour measures moves by tens of percent
  between seeds at the same load (table above). The forecast tracks the expected p95, so a
  single run can land well away from it even when the model is right.
- One hour of load-1 data at 10 orders/minute gives ~50 mes requests per window: the saturation
  multiplier inherits the noise of the busiest window (as the truth's does, so they agree), and
  a different hour of the same day saturates at a different multiplier.
- Workers are only a lower bound for components that never queued (see `workers_known`): their
  utilization and saturation multiplier are pessimistic, their latency carries no wait of their
  own, and `first_to_saturate` only considers components whose workers are known (a note names
  any other that could saturate earlier). Give real counts with `--workers FILE`.
- A caller that holds a worker while it waits saturates no later than its callee: its saturation
  multiplier is capped at the callee's, and ties name the callee.
- Calls one span makes at once (overlapping client spans) delay it by how much they move the
  latest end among them, calls in sequence by the sum; the simulator only makes sequential
  calls, so the parallel case is checked by a unit test, not by these runs. Asynchronous
  messages do not hold the producer's worker.
- Spans must say their kind: only SERVER and CONSUMER spans count as a component's work (old
  Jaeger clients that send no `span.kind` give `unspecified` spans, which are left out).
"""


if __name__ == "__main__":
    main()
