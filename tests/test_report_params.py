"""Report parameters: checked before a kernel starts, wrong ones rejected in one line (exit 2)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli import assert_user_error, run
from tracekit.errors import UserError
from tracekit.report.params import coerce_param, parse_duration, validate_params
from tracekit.report.runner import plan_reports
from tracekit.report.window import open_window


@pytest.fixture(scope="module")
def small(simulated: Any) -> Path:
    dataset, _ = simulated("mes-saturated", hours=1.0, seed=7)
    return Path(dataset)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("1.5h", timedelta(minutes=90)),
        ("30s", timedelta(seconds=30)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "-1h", "0h", "1y", "yesterday"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UserError, match="parameter since"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"since": "soon"}, "parameter since"),
        ({"start": "monday"}, "parameter start"),
        ({"start": "2026-01-05T10:00:00Z", "end": "2026-01-05T09:00:00Z"}, "not before end"),
        ({"since": "1h", "start": "2026-01-05T09:00:00Z"}, "not both"),
        ({"services": [1, 2]}, "parameter services"),
        ({"jaeger_ui_url": "ftp://jaeger"}, "jaeger_ui_url"),
        ({"jaeger_ui_url": "https://user:pw@jaeger.example"}, "credentials"),
        ({"jaeger_ui_url": "https://jaeger.example/?token=abc"}, "credentials"),
        ({"api_token": "abc"}, "secrets"),
        ({"multipliers": [1, -2]}, "parameter multipliers"),
        ({"multipliers": "many"}, "parameter multipliers"),
        ({"slo_p95_ms": 0}, "parameter slo_p95_ms"),
        ({"slo_p95_ms": "fast"}, "parameter slo_p95_ms"),
        ({"flow": "no-such-flow"}, "parameter flow: unknown flow"),
        # issue #13 item 7 / #17: each ended in an OverflowError or a failed kernel run
        ({"since": "99999999999d"}, "parameter since"),
        ({"end": "9999-12-31T23:59:59-14:00"}, "parameter end"),
        ({"start": "0001-01-01T00:00:00+14:00"}, "parameter start"),
        ({"slo_p95_ms": float("nan")}, "parameter slo_p95_ms"),
        ({"slo_p95_ms": float("inf")}, "parameter slo_p95_ms"),
        ({"slo_p95_ms": 1e308}, "parameter slo_p95_ms"),
        ({"multipliers": [1, float("nan")]}, "parameter multipliers"),
        ({"multipliers": [float("inf")]}, "parameter multipliers"),
        ({"multipliers": [1e308]}, "parameter multipliers"),
        ({"services": ["mes", "crmm"]}, "parameter services: 'crmm' not in"),
    ],
)
def test_validate_params_rejects(small: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message) as caught:
        validate_params(dataset=small, **kwargs)
    assert "\n" not in str(caught.value)


def test_validate_params_missing_dataset(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no tracekit dataset"):
        validate_params(dataset=tmp_path / "nothing")


def test_validate_params_normalises(small: Path) -> None:
    params = validate_params(
        dataset=small,
        since="2h",
        services="mes, crm",
        multipliers="5,1,2",
        jaeger_ui_url="http://localhost:16686/",
        slo_p95_ms=300,
    )
    assert params.since == timedelta(hours=2)
    assert params.services == ("mes", "crm")
    assert params.extra == {
        "multipliers": [1.0, 2.0, 5.0],
        "jaeger_ui_url": "http://localhost:16686",
        "slo_p95_ms": 300.0,
    }


def test_window_since_counts_back_from_the_newest_span(small: Path) -> None:
    whole = open_window(validate_params(dataset=small))
    last = open_window(validate_params(dataset=small, since="10m"))
    assert 0 < last.traces < whole.traces
    assert last.end - last.start == timedelta(minutes=10)
    (earliest,) = last.con.execute("SELECT min(start_time) FROM traces").fetchall()[0]
    assert earliest >= last.start
    only_crm = open_window(validate_params(dataset=small, services=["crm"]))
    (without_crm,) = only_crm.con.execute(
        "SELECT count(*) FROM traces WHERE NOT list_contains(services, 'crm')"
    ).fetchall()[0]
    assert only_crm.traces < whole.traces and without_crm == 0
    # per-service tables keep only the chosen services' rows (all of them when none was chosen)
    per_service = only_crm.con.sql("SELECT service, count(*) AS spans FROM spans GROUP BY 1").df()
    assert len(per_service) > 1
    assert list(only_crm.keep_services(per_service)["service"]) == ["crm"]
    assert whole.keep_services(per_service).equals(per_service)


def test_window_outside_the_data_is_a_user_error(small: Path) -> None:
    with pytest.raises(UserError, match="no traces"):
        open_window(validate_params(dataset=small, end="2000-01-01T00:00:00Z"))


@pytest.mark.parametrize(
    ("declared", "text", "expected"),
    [
        ("list", "mes,crm", ["mes", "crm"]),
        ("list", "1, 2.5", [1, 2.5]),
        ("list", "[1, 2]", [1, 2]),
        ("float", "300", 300.0),
        ("int", "3", 3),
        ("str", "24h", "24h"),
        ("bool", "true", True),
    ],
)
def test_coerce_cli_text(declared: str, text: str, expected: Any) -> None:
    assert coerce_param("capacity", "x", text, declared) == expected


@pytest.mark.parametrize(
    ("declared", "text"), [("float", "fast"), ("int", "1.5"), ("bool", "maybe")]
)
def test_coerce_cli_text_rejects(declared: str, text: str) -> None:
    with pytest.raises(UserError, match=f"report capacity: parameter x: expected {declared}"):
        coerce_param("capacity", "x", text, declared)


def test_plan_checks_names_types_and_values(small: Path) -> None:
    plans = plan_reports("all", small, text_params={"since": "30m", "slo_p95_ms": "250"})
    by_name = {plan.name: plan.params for plan in plans}
    assert by_name["capacity"]["slo_p95_ms"] == 250.0
    assert "slo_p95_ms" not in by_name["explore"]  # only the notebooks declaring it get it
    assert all(params["since"] == "30m" for params in by_name.values())
    with pytest.raises(UserError, match="unknown parameter 'colour'"):
        plan_reports("all", small, text_params={"colour": "red"})
    with pytest.raises(UserError, match="parameter slo_p95_ms: expected float, got str"):
        plan_reports("capacity", small, params={"slo_p95_ms": "fast"})
    with pytest.raises(UserError, match="report order_loss: parameter since"):
        plan_reports("order_loss", small, params={"since": "a while"})
    with pytest.raises(UserError, match="unknown report 'bottleneck'"):
        plan_reports("bottleneck", small)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["capacity", "-p", "slo_p95_ms", "fast"], "parameter slo_p95_ms: expected float"),
        (["all", "--since", "forever"], "parameter since"),
        (["all", "-p", "colour", "red"], "unknown parameter 'colour'"),
        (["orders"], "unknown report 'orders'"),
    ],
)
def test_cli_wrong_parameter_exits_2_in_one_line_before_running(
    small: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "reports"
    done = run("report", *args, "--data", str(small), "--out", str(out), timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not out.exists(), "nothing may be written for a rejected run"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("services", "foo", "parameter services: 'foo' not in"),
        ("slo_p95_ms", "nan", "parameter slo_p95_ms"),
        ("slo_p95_ms", "inf", "parameter slo_p95_ms"),
        ("slo_p95_ms", "1e308", "parameter slo_p95_ms"),
        ("multipliers", "1,1e308", "parameter multipliers"),
        ("replay_spans", "-5", "parameter replay_spans"),
        ("since", "99999999999d", "parameter since"),
        ("end", "9999-12-31T23:59:59-14:00", "parameter end"),
    ],
)
def test_cli_refuses_before_a_kernel_starts(
    small: Path, tmp_path: Path, name: str, value: str, message: str
) -> None:
    out = tmp_path / "reports"
    proc = run("report", "capacity", "--data", str(small), "--out", str(out), "-p", name, value)
    assert_user_error(proc, "report capacity", message)
    assert not out.exists() or not any(out.rglob("run.json")), "a failed run was left behind"


def test_unknown_service_names_the_known_ones(small: Path) -> None:
    with pytest.raises(UserError) as caught:
        validate_params(dataset=small, services=["shop-api", "nope"])
    assert "'nope'" in str(caught.value) and "'shop-api'" not in str(caught.value)
    assert "mes-api" in str(caught.value)  # the known services, to pick from


def test_memory_limit_reaches_the_report_window(small: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("TRACEKIT_MEMORY_LIMIT", "700MB")
    window = open_window(validate_params(dataset=small))
    (limit,) = window.con.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    assert limit == "667.5 MiB"  # 700 MB in DuckDB's binary units
    monkeypatch.setenv("TRACEKIT_MEMORY_LIMIT", "plenty")
    with pytest.raises(UserError, match="TRACEKIT_MEMORY_LIMIT"):
        validate_params(dataset=small)


def test_a_relative_before_dataset_is_the_callers_folder(
    small: Path, monkeypatch: Any, tmp_path: Path
) -> None:
    # The kernel runs in another folder than the caller's: `make demo` gave compare
    # "data/demo/workshop-day" and its kernel found no dataset there.
    monkeypatch.chdir(small.parent)
    (plan,) = plan_reports("compare", small, params={"before": small.name})
    assert plan.params["before"] == str(small.resolve())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="no tracekit dataset"):
        plan_reports("compare", small, params={"before": small.name})
