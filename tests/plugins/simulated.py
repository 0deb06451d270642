"""``simulated``: simulated workshop datasets with their ground truth, made once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import drawn
from tracekit.dataset import write_spans

Simulated = Callable[..., tuple[Path, dict[str, Any]]]

# api-errors whose load balancer notices the outage after 3 minutes (not 20 s), so that refused
# orders are there for every seed (see the file).
SLOW_DETECT = (
    Path(__file__).resolve().parents[1] / "cases" / "simulate" / "api-errors-slow-detect.yaml"
)

# The components of the simulated workshop (docs/simulator.md), written out by hand: what the
# built-in scenarios must produce.
WORKSHOP_SERVICES = frozenset(
    {"internet-shop", "shop-api", "mes-api", "mes", "model-storage", "order-queue", "crm"}
)


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    """Factory: ``simulated("queue-loss", hours=1, load=1.0, seed=1)`` -> (dataset, truth).

    ``seed`` names one of the session's drawn seeds (tests.conftest.drawn). Each distinct set of
    arguments is simulated and written once per test session; tests must not write into the
    returned dataset (copy it first).
    """
    from tracekit.simulate import simulate

    made: dict[tuple[Any, ...], tuple[Path, dict[str, Any]]] = {}

    def make(
        scenario: str = "baseline",
        *,
        hours: float = 1.0,
        load: float = 1.0,
        seed: int = 1,
        start: str = "2026-01-05T09:00:00Z",
    ) -> tuple[Path, dict[str, Any]]:
        key = (scenario, hours, load, seed, start)
        if key not in made:
            result = simulate(
                scenario, duration_s=hours * 3600, load=load, seed=drawn(seed), start=start
            )
            path = tmp_path_factory.mktemp(f"sim-{Path(scenario).stem}") / "dataset"
            write_spans(path, result.batches, source=result.source())
            made[key] = (path, result.truth)
        return made[key]

    return make
