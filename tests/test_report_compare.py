"""compare's building blocks: how the two windows are chosen, and when a p95 really moved."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tracekit.errors import UserError
from tracekit.report.comparison import open_windows, p95_moved, side_by_side
from tracekit.report.params import validate_params


def test_a_p95_moves_only_beyond_the_noise() -> None:
    seed = random.randrange(2**32)
    rng = np.random.default_rng(seed)
    # two samples of one lognormal (a steady service): chance differences are not a change
    same = [p95_moved(rng.lognormal(7, 0.6, 450), rng.lognormal(7, 0.6, 450)) for _ in range(20)]
    assert sum(same) <= 3, (seed, same)  # the interval is 95%: a rare false alarm is allowed
    # the same service twice as slow
    assert p95_moved(rng.lognormal(7, 0.6, 450), rng.lognormal(7 + np.log(2), 0.6, 450)), seed
    assert not p95_moved(np.ones(5), np.ones(5) * 10), "too few requests to say"


def test_side_by_side_keeps_rows_of_either_side() -> None:
    import pandas as pd

    before = pd.DataFrame({"service": ["a", "b"], "p95": [10.0, 20.0]})
    after = pd.DataFrame({"service": ["b", "c"], "p95": [25.0, 5.0]})
    both = side_by_side(before, after, keys=["service"], values=["p95"]).set_index("service")
    assert both.loc["b", "p95_change"] == 5.0
    assert np.isnan(both.loc["a", "p95_after"]) and np.isnan(both.loc["c", "p95_before"])


def test_windows_of_one_dataset(simulated: Any) -> None:
    dataset, _ = simulated("baseline", hours=1.0, seed=7)
    whole = open_windows(validate_params(dataset=dataset))
    assert whole.before.end == whole.after.start, "the dataset cut in two halves"
    assert whole.before.traces and whole.after.traces
    last = open_windows(validate_params(dataset=dataset, since="20m"))
    assert last.after.end - last.after.start == last.before.end - last.before.start
    assert last.before.end == last.after.start
    overlapping = validate_params(
        dataset=dataset,
        start="2026-01-05T09:20:00Z",
        before_start="2026-01-05T09:00:00Z",
        before_end="2026-01-05T09:30:00Z",
    )
    with pytest.raises(UserError, match="overlap"):
        open_windows(overlapping)


def test_before_names_another_dataset(simulated: Any, tmp_path: Path) -> None:
    after, _ = simulated("baseline", hours=1.0, seed=7)
    before, _ = simulated("mes-saturated", hours=1.0, seed=7)
    pair = open_windows(validate_params(dataset=after, before=str(before)))
    assert not pair.same_dataset
    assert pair.before.traces != pair.after.traces
    with pytest.raises(UserError):
        validate_params(dataset=after, before=str(tmp_path / "nothing-here"))
