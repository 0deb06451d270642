"""``simulate()``: run a scenario and get its spans (Arrow) and ground truth (dict).

>>> result = simulate("baseline", duration_s=600, seed=1, start="2026-01-05T09:00:00Z")
>>> result.table().num_rows > 0, result.truth["bottleneck"]  # doctest: +SKIP
(True, 'mes')
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from tracekit.errors import UserError
from tracekit.schema import SPAN_SCHEMA
from tracekit.simulate.load_scenario import load_scenario
from tracekit.simulate.model import Model
from tracekit.simulate.scenario import Scenario
from tracekit.simulate.spans import SpanCollector
from tracekit.simulate.truth import compute_truth
from tracekit.times import naive_utc, utc_datetime

_EPOCH = datetime(1970, 1, 1)


@dataclass
class SimulationResult:
    """The spans and the truth of one run, plus the parameters that produced them."""

    scenario: Scenario
    start: datetime  # UTC, naive
    duration_s: float
    load: float
    seed: int
    batches: Iterable[pa.RecordBatch]  # a list, or read back from a spill file
    truth: dict[str, Any]
    resources: list[dict[str, str]]
    spans: int  # rows in ``batches``, counted as they were made

    @property
    def end(self) -> datetime:
        """End of the arrival window (in-flight work may finish after it)."""
        return self.start + timedelta(seconds=self.duration_s)

    def table(self) -> pa.Table:
        """All spans as one Arrow table in ``SPAN_SCHEMA``."""
        return pa.Table.from_batches(self.batches, schema=SPAN_SCHEMA)

    def source(self) -> dict[str, Any]:
        """What to record in a dataset manifest's ``sources``."""
        return {
            "kind": "simulate",
            "scenario": self.scenario.name,
            "seed": self.seed,
            "load": self.load,
            "start": self.start.isoformat() + "Z",
            "duration_s": self.duration_s,
        }

    def write_truth(self, path: str | os.PathLike[str]) -> None:
        """Write the truth as JSON."""
        try:
            Path(path).write_text(json.dumps(self.truth, indent=1) + "\n")
        except OSError as exc:
            raise UserError(f"{path}: cannot write truth file: {exc.strerror}") from exc


def parse_start(value: str | datetime | None, duration_s: float) -> datetime:
    """The run's start as naive UTC; default: ``duration`` before now, floored to the minute."""
    if value is None:
        now = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
        return now - timedelta(seconds=int(duration_s // 60) * 60 + 60)
    if isinstance(value, str):
        try:
            return utc_datetime(value)
        except ValueError as exc:
            raise UserError(
                f"--start: not an ISO time: {value!r} (e.g. 2026-01-05T09:00:00Z)"
            ) from exc
    return naive_utc(value)


def simulate(
    scenario: str | Scenario = "baseline",
    duration_s: float = 3600.0,
    load: float = 1.0,
    seed: int = 0,
    start: str | datetime | None = None,
    batch_rows: int = 100_000,
    spill: str | os.PathLike[str] | None = None,
) -> SimulationResult:
    """Simulate ``duration_s`` seconds of arrivals of a scenario (name, file path or Scenario).

    ``load`` multiplies every flow's rate; the same ``seed`` and ``start`` give identical spans
    and truth. Work still in flight when arrivals stop is allowed to finish, so spans may end
    after ``start + duration``. With ``spill`` (a file path) the spans are kept in that file
    rather than in memory, and ``batches`` reads them from it.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if not duration_s > 0:
        raise UserError(f"--duration: must be positive, got {duration_s:g}s")
    if not load > 0:
        raise UserError(f"--load: must be a positive multiplier, got {load:g}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"--seed: must be a non-negative integer, got {seed!r}")
    begin = parse_start(start, duration_s)
    start_us = (begin - _EPOCH) // timedelta(microseconds=1)
    start_hour = begin.hour + begin.minute / 60 + begin.second / 3600 + begin.microsecond / 3.6e9
    collector = SpanCollector(start_us, batch_rows, None if spill is None else Path(spill))
    model = Model(scenario, duration_s, load, seed, start_hour, collector)
    outcome = model.run()
    collector.close()
    truth = compute_truth(outcome, scenario, seed, load, duration_s)
    return SimulationResult(
        scenario,
        begin,
        duration_s,
        load,
        seed,
        collector.batches,
        truth,
        collector.resources,
        collector.rows,
    )
