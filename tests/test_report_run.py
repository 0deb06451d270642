"""Every report executed by papermill on simulated data, checked against the simulator's truth."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

import tracekit
from tests.cli import run
from tests.plugins.reports import UI, ReportRuns
from tests.plugins.simulated import WORKSHOP_SERVICES
from tracekit.report.charts import chart_problems
from tracekit.report.findings import read_findings
from tracekit.report.notebooks import NOTEBOOKS
from tracekit.report.prose import percent, points
from tracekit.report.runner import run_reports

pytestmark = pytest.mark.slow

VEGALITE = "application/vnd.vegalite.v6+json"


def test_every_report_ran(report_runs: ReportRuns) -> None:
    expected = {(name, "mes-saturated") for name in NOTEBOOKS} | {
        (name, "dispatch") for name in NOTEBOOKS
    }
    expected |= {("order_loss", "queue-loss"), ("bottlenecks", "baseline")}
    expected |= {("compare", "baseline"), ("compare", "dispatch-fixed")}
    assert set(report_runs.runs) == expected
    for result in report_runs.all():
        assert result.ok, f"{result.name}: {result.error}"
        for name in ("report.ipynb", "report.html", "params.yaml", "run.json"):
            assert (result.folder / name).is_file(), f"{result.folder}/{name}"
        params = yaml.safe_load((result.folder / "params.yaml").read_text())
        assert Path(params["dataset"]).is_absolute()
        status = json.loads((result.folder / "run.json").read_text())
        assert status["status"] == "ok" and status["headline"], status


def test_no_report_prints_warnings_or_errors(report_runs: ReportRuns) -> None:
    for result in report_runs.all():
        assert not noisy_outputs(result), (result.name, result.label, noisy_outputs(result))


def noisy_outputs(result: Any) -> list[str]:
    """What a report wrote to stderr or raised: it lands in the page, above the verdict (a
    pandas UserWarning did, on HotROD)."""
    notebook = nbformat.read(result.notebook, 4)
    return [
        str(output.get("text") or output.get("evalue"))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "error"
        or (output.output_type == "stream" and output.get("name") == "stderr")
    ]


def test_index_lists_every_run(report_runs: ReportRuns) -> None:
    index = (report_runs.out / "index.html").read_text()
    for result in report_runs.all():
        link = f'href="{result.name}/{result.folder.name}/report.html"'
        assert link in index, link
    assert not list(report_runs.out.glob(".*.tmp")), "atomic writes leave no temporary files"


def test_bottlenecks_say_saturated_or_slow(report_runs: ReportRuns) -> None:
    cases = {"mes-saturated": "saturated", "baseline": "slow", "dispatch": "saturated"}
    for scenario, state in cases.items():
        truth = report_runs.truths[scenario]
        findings = read_findings(report_runs.get("bottlenecks", scenario).notebook)
        where = (scenario, findings["headline"])
        assert findings["bottleneck"] == truth["bottleneck"], where
        assert findings["state"] == state, where
        if state == "saturated":
            assert findings["headline"].startswith(f"{truth['bottleneck']} is saturated"), where
            assert findings["wait_share"] >= 0.2 and "Add " in findings["action"], where
        else:
            assert f"{truth['bottleneck']} is slow, not saturated" in findings["headline"], where
            assert findings["wait_share"] < 0.1 and "faster" in findings["action"], where
            assert "workers" not in findings["action"], where


def test_a_callers_wait_is_charged_to_its_callee(report_runs: ReportRuns) -> None:
    # mes-api's client span waits for a free mes worker: that is mes's queue, not mes-api's
    # own work (the view's self_p95_us reports it as mes-api's: seconds).
    findings = read_findings(report_runs.get("bottlenecks", "mes-saturated").notebook)
    con = tracekit.connect(report_runs.datasets["mes-saturated"])
    view = dict(con.sql("SELECT service, self_p95_us / 1000 FROM bottlenecks").fetchall())
    assert view["mes-api"] > 5_000, "the case needs mes-api to wait for mes"
    assert findings["own_work_p95_ms"]["mes-api"] < 500 < 5_000 < findings["wait_p95_ms"]["mes"]


def test_order_loss_totals_agree_with_its_table_and_the_truth(report_runs: ReportRuns) -> None:
    truth = report_runs.truths["queue-loss"]
    notebook = nbformat.read(report_runs.get("order_loss", "queue-loss").notebook, 4)
    findings = read_findings(notebook)
    lost = findings["lost_orders"]
    assert lost == findings["funnel_entered"] - findings["funnel_completed"]
    assert lost == sum(findings["dropped_by_step"].values()), "the headline is the table's total"
    assert lost == len(truth["lost_orders"]) > 0
    assert findings["headline"].startswith(f"{lost:,} of {findings['funnel_entered']:,} orders")
    assert findings["lost_messages"] == len(truth["lost_messages"]) > 0
    # telemetry loss is reported apart from business loss
    assert findings["orphan_spans"] == truth["orphaned_spans"]
    # example traces link to the Jaeger UI, and the lost-message examples are truly lost ones
    page = report_runs.get("order_loss", "queue-loss").html.read_text()
    linked = set(re.findall(re.escape(UI) + r"/trace/([0-9a-f]{32})", page))
    lost_traces = {message["trace_id"] for message in truth["lost_messages"]}
    assert len(linked & lost_traces) >= min(5, len(lost_traces))
    assert "Waterfall of a lost order" in _chart_titles(notebook)


def test_order_loss_without_loss_says_so(report_runs: ReportRuns) -> None:
    truth = report_runs.truths["mes-saturated"]
    findings = read_findings(report_runs.get("order_loss", "mes-saturated").notebook)
    assert findings["lost_messages"] == len(truth["lost_messages"])


def test_capacity_answers_what_saturates_and_what_to_do(report_runs: ReportRuns) -> None:
    truth = report_runs.truths["mes-saturated"]
    result = report_runs.get("capacity", "mes-saturated")
    findings = read_findings(result.notebook)
    assert findings["first_to_saturate"] == truth["bottleneck"] == "mes"
    assert findings["multipliers"] == [1.0, 2.0, 5.0, 10.0]
    assert findings["headline"].startswith("mes saturates first, at ")
    # today's p95 already breaks the default 5 s target: the verdict says so
    assert "mes" in findings["over_target_today"]
    assert "already breaks the 5 s target today" in findings["headline"]
    # callers that only wait on mes saturate with it; they are not called saturated themselves
    assert findings["saturates_with"] and set(findings["saturates_with"].values()) == {"mes"}
    text = _visible_text(result.html)
    assert "waits on mes" in text
    # no workers count meets the target: the verdict says why and what to do instead
    assert "No number of mes workers meets a 5 s p95" in findings["action"]


def test_compare_says_which_share_moved_and_by_how_much(report_runs: ReportRuns) -> None:
    for after, before, service in (
        ("dispatch-fixed", "dispatch", "mysql"),
        ("baseline", "mes-saturated", "mes"),
    ):
        findings = read_findings(report_runs.get("compare", after).notebook)
        shares = {
            side: dict(
                tracekit.connect(report_runs.datasets[side])
                .sql("SELECT service, cp_share FROM bottlenecks")
                .fetchall()
            )[service]
            for side in (before, after)
        }
        assert findings["moved_service"] == service
        assert findings["share_before"] == pytest.approx(shares[before], abs=1e-6)
        assert findings["share_after"] == pytest.approx(shares[after], abs=1e-6)
        expected = (
            f"{service}'s share of the critical path fell from {percent(shares[before])} to "
            f"{percent(shares[after])} ({points(shares[after] - shares[before])})"
        )
        assert shares[after] < shares[before]
        assert expected in _visible_text(report_runs.get("compare", after).html), expected
        assert findings["worse"] == "before"


def test_every_chart_has_title_axis_titles_and_tooltip(report_runs: ReportRuns) -> None:
    charts = 0
    for result in report_runs.all():
        for spec, where in _chart_specs(result):
            charts += 1
            assert not chart_problems(spec), (where, chart_problems(spec))
    assert charts >= 40


def test_charts_read_right(report_runs: ReportRuns) -> None:
    """24-hour UTC time axes, fixed-meaning colours (no relative scheme that paints a 0.2%
    drop deep red), and no chart drawn from no data."""
    for result in report_runs.all():
        for spec, where in _chart_specs(result):
            for values in spec.get("datasets", {}).values():
                assert values, (where, "a chart drawn from no data")
            for layer in _layers(spec):
                encoding = layer.get("encoding", {})
                colour = encoding.get("color", {})
                assert not (isinstance(colour, dict) and colour.get("type") == "quantitative"), (
                    where,
                    colour,
                )
                assert "scheme" not in json.dumps(colour), (where, colour)
                for channel in ("x", "y"):
                    axis = encoding.get(channel, {})
                    if isinstance(axis, dict) and axis.get("type") == "temporal":
                        assert axis.get("scale", {}).get("type") == "utc", (where, axis)
                        assert "%H:%M" in axis["axis"]["format"], (where, axis)


# What must never reach a reader (issue 17, "Numbers that look right").
WRONG = {
    "a count with a decimal": re.compile(r"\b\d[\d,]*\.0 (traces|requests|orders|spans|messages)"),
    "a plural after one": re.compile(r"(?<![\d.,])1 (traces|requests|orders|spans|messages)\b"),
    "a raw fraction": re.compile(r"(?<![\d.])0\.\d{4,}"),
    "a Python value": re.compile(r"\b(True|False|NaN|nan|None)\b"),
    "a 12-hour clock": re.compile(r"\b\d{1,2} ?(AM|PM)\b"),
    "a tautology": re.compile(r"resource\.service\.name"),
}


def test_numbers_read_right(report_runs: ReportRuns) -> None:
    for result in report_runs.all():
        text = _visible_text(result.html)
        for what, pattern in WRONG.items():
            found = pattern.findall(text)
            assert not found, (result.name, result.label, what, found[:5])
        for value in re.findall(r"(?<![+−\-\d.])(\d[\d,]*(?:\.\d+)?)%", text):
            assert float(value.replace(",", "")) <= 100, (result.name, result.label, value)


def test_reports_on_another_service_graph_speak_of_it(report_runs: ReportRuns) -> None:
    truth = report_runs.truths["dispatch"]
    for name in NOTEBOOKS:
        result = report_runs.get(name, "dispatch")
        text = _visible_text(result.html)
        for workshop in (*WORKSHOP_SERVICES, "workshop"):
            assert not re.search(rf"(?<![\w-]){re.escape(workshop)}(?![\w-])", text), (
                name,
                workshop,
            )
        assert not re.search(r"\b[Oo]rders?\b", text), (name, "workshop wording")  # not ORDER BY
    loss = read_findings(report_runs.get("order_loss", "dispatch").notebook)
    assert loss["flow_derived"] and loss["noun"] == "request"
    assert loss["flow"] == ["frontend", "billing"], "the request is handed on to billing"
    assert loss["lost_messages"] == len(truth["lost_messages"]) > 0
    capacity = read_findings(report_runs.get("capacity", "dispatch").notebook)
    assert capacity["first_to_saturate"] == "mysql" == truth["bottleneck"]
    assert not capacity["headline"].startswith("Nothing saturates")
    n_plus_one = read_findings(report_runs.get("bottlenecks", "dispatch").notebook)["n_plus_one"]
    assert n_plus_one >= 1


def test_a_named_flow_absent_from_the_data_is_said_plainly(
    report_runs: ReportRuns, tmp_path: Path
) -> None:
    (result,) = run_reports(
        ["order_loss"], report_runs.datasets["dispatch"], tmp_path, {"flow": "workshop"}
    )
    assert result.ok, result.error
    findings = read_findings(result.notebook)
    assert findings["flow_derived"] and "internet-shop" in findings["absent_steps"]
    text = _visible_text(result.html)
    assert "The flow workshop names steps this data does not have" in text
    assert "0 traces entered" not in text


def test_explore_runs_the_sql_cells(report_runs: ReportRuns) -> None:
    notebook = nbformat.read(report_runs.get("explore", "mes-saturated").notebook, 4)
    sql_cells = [cell for cell in notebook.cells if cell.source.startswith("%%sql")]
    assert len(sql_cells) >= 3
    assert all(cell.outputs is not None for cell in sql_cells)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


def _chart_specs(result: Any) -> list[tuple[dict[str, Any], tuple[str, str | None, int]]]:
    notebook = nbformat.read(result.notebook, 4)
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            spec = output.get("data", {}).get(VEGALITE)
            if spec is not None:
                assert "data-tracekit-chart" in output["data"]["text/html"]
                found.append((spec, (result.name, result.label, index)))
    return found


def _chart_titles(notebook: nbformat.NotebookNode) -> list[str]:
    titles = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            spec = output.get("data", {}).get(VEGALITE)
            if spec is not None:
                title = spec.get("title", "")
                titles.append(title.get("text", "") if isinstance(title, dict) else title)
    return titles


def _layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    found = [spec]
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in spec.get(key, []):
            found.extend(_layers(child))
    return found


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self.skip -= 1
        elif tag in ("td", "th", "li", "p", "div"):
            self.parts.append(" | ")  # a table cell's number is not the next cell's noun

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def _visible_text(page: Path) -> str:
    """The text of a report page as a reader sees it (no scripts, styles or head); charts are
    checked through their specs above."""
    parser = _Text()
    parser.feed(page.read_text())
    return " ".join(" ".join(parser.parts).split())


FAILING = """
import nbformat
nb = nbformat.v4.new_notebook()
params = nbformat.v4.new_code_cell(
    'dataset: str = ""  # d\\nsince: str = ""  # s\\nstart: str = ""  # s\\n'
    'end: str = ""  # e\\nservices: list = []  # s'
)
params.metadata["tags"] = ["parameters"]
nb.cells = [
    params,
    nbformat.v4.new_code_cell("from tracekit.report.params import validate_params\\n"
                              "p = validate_params(dataset=dataset, since=since)"),
    nbformat.v4.new_code_cell("print('before the failure')"),
    nbformat.v4.new_code_cell("raise RuntimeError('boom in the third cell')"),
    nbformat.v4.new_code_cell("print('never reached')"),
]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbformat.write(nb, OUT)
"""


def test_failing_notebook_exits_nonzero_keeps_output_and_names_the_cell(
    simulated: Any, tmp_path: Path
) -> None:
    dataset, _ = simulated("mes-saturated", hours=1.0, seed=7)
    folder = tmp_path / "notebooks"
    folder.mkdir()
    code = FAILING.replace("OUT", repr(str(folder / "explore.ipynb")))
    subprocess.run([sys.executable, "-c", code], check=True)
    out = tmp_path / "reports"
    done = run(
        "report",
        "explore",
        "--data",
        str(dataset),
        "--out",
        str(out),
        timeout=300,
        env={"TRACEKIT_NOTEBOOKS": str(folder)},
    )
    assert done.returncode == 1, done.stderr
    assert "explore failed" in done.stderr
    assert "raised RuntimeError: boom in the third cell" in done.stderr
    assert "cell 5 (In [5]" in done.stderr  # cell 2 is the parameters papermill injected
    (run_folder,) = (out / "explore").iterdir()
    executed = nbformat.read(run_folder / "report.ipynb", 4)
    printed = [o.get("text", "") for c in executed.cells for o in c.get("outputs", [])]
    assert "before the failure\n" in printed and "never reached\n" not in printed
    assert "boom in the third cell" in (run_folder / "report.html").read_text()
    status = json.loads((run_folder / "run.json").read_text())
    assert status["status"] == "failed" and status["failed_cell"] == 5
    assert "failed" in (out / "index.html").read_text()


def test_empty_window_is_a_user_error_exit_2(simulated: Any, tmp_path: Path) -> None:
    dataset, _ = simulated("mes-saturated", hours=1.0, seed=7)
    done = run(
        "report",
        "explore",
        "--data",
        str(dataset),
        "--out",
        str(tmp_path / "reports"),
        "-p",
        "end",
        "2000-01-01T00:00:00Z",
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "raised UserError" in done.stderr and "no traces" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
