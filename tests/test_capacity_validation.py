"""The forecast against the simulator: forecast load M from the load-1 run alone, then compare
with a run simulated at load M and with the truth files the forecast never reads."""

from __future__ import annotations

import pytest

from tracekit.capacity import capacity_plan
from tracekit.capacity.validation import compare

PEAK_HOUR = "2026-01-05T19:00:00Z"  # the evening order peak: mes is busiest
MULTIPLIER = 1.5  # mes at about 55-75% in its busiest 5 minutes: loaded, not saturated
MORNING = "2026-01-05T09:00:00Z"  # operators use mes too; mes at ~25%, so M = 2.5 is comparable


@pytest.mark.slow
@pytest.mark.parametrize(
    ("start", "multiplier", "seed"),
    [(PEAK_HOUR, MULTIPLIER, 1), (PEAK_HOUR, MULTIPLIER, 5), (MORNING, 2.5, 1)],
)
def test_forecast_matches_a_run_at_the_higher_load(
    simulated, start: str, multiplier: float, seed: int
) -> None:
    base, truth = simulated("baseline", hours=1, load=1.0, seed=seed, start=start)
    high, truth_high = simulated("baseline", hours=1, load=multiplier, seed=seed, start=start)
    where = f"seeds {truth['seed']}, {truth_high['seed']}"
    # the premise: nothing saturates at load M
    peaks = {name: c["peak_utilization"] for name, c in truth_high["components"].items()}
    assert all(peak < 0.85 for peak in peaks.values()), (where, peaks)
    table = compare(base, high, multiplier, truth, truth_high).set_index("service")
    assert set(table.index) == set(truth["components"])
    for service, row in table.iterrows():
        assert abs(row["p95_error"]) <= 0.25, (where, service, row.to_dict())
    bottleneck = truth["bottleneck"]
    assert abs(table.loc[bottleneck, "saturation_error"]) <= 0.15, (where, table.loc[bottleneck])
    assert table.attrs["first_to_saturate"] == bottleneck, (where, table.attrs)


@pytest.mark.slow
def test_measured_workers_and_model_of_the_bottleneck(simulated) -> None:
    base, truth = simulated("baseline", hours=1, load=1.0, seed=1, start=PEAK_HOUR)
    plan = capacity_plan(base, [1.0])
    models = plan.models.set_index("service")
    mes = models.loc["mes"]
    # mes queued, so every worker was seen busy: the measured count is its real one
    assert mes["workers_known"] and mes["workers"] == truth["components"]["mes"]["workers"]
    assert mes["model"] == "M/G/c"  # planning times are far from exponential
    for service, row in models.iterrows():
        assert row["workers"] <= truth["components"][service]["workers"], service
    assert mes["mean_service_ms"] == pytest.approx(
        truth["components"]["mes"]["mean_service_ms"], rel=0.02
    )


@pytest.mark.slow
def test_with_real_worker_counts_the_callers_saturate_with_mes(simulated) -> None:
    base, truth = simulated("baseline", hours=1, load=1.0, seed=1, start=PEAK_HOUR)
    real = {name: c["workers"] for name, c in truth["components"].items()}
    plan = capacity_plan(base, [1.0], workers=real)
    table = plan.table.set_index("service")
    assert table["workers_known"].all()
    assert plan.first_to_saturate == "mes" and plan.notes == []
    mes = table.loc["mes", "saturation_multiplier"]
    for caller in ("mes-api", "shop-api", "internet-shop"):  # they hold a worker while mes works
        assert table.loc[caller, "saturation_multiplier"] == pytest.approx(mes)
    for other in ("model-storage", "order-queue", "crm"):
        assert table.loc[other, "saturation_multiplier"] > 5 * mes


@pytest.mark.slow
def test_a_caller_short_of_workers_of_its_own_saturates_first(simulated) -> None:
    """The converse of the test above: a caller that runs out of workers with its callees as
    fast as observed (one worker at internet-shop, which holds it while everything below works)
    is named first, below mes, not charged to mes."""
    base, truth = simulated("baseline", hours=1, load=1.0, seed=1, start=PEAK_HOUR)
    real = {name: c["workers"] for name, c in truth["components"].items()}
    plan = capacity_plan(base, [1.0], workers=real | {"internet-shop": 1})
    table = plan.table.set_index("service")
    where = f"seed {truth['seed']}: {table['saturation_multiplier'].to_dict()}"
    assert plan.first_to_saturate == "internet-shop", where
    shop = table.loc["internet-shop", "saturation_multiplier"]
    # one worker busy for each request's whole time: it saturates near 1 / its utilization
    assert shop < table.loc["mes", "saturation_multiplier"], where
    assert shop == pytest.approx(1 / table.loc["internet-shop", "utilization"], rel=0.25), where
