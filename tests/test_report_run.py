"""Every report executed by papermill on simulated data, checked against the simulator's truth."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from tests.cli import run
from tests.plugins.reports import UI, ReportRuns
from tracekit.report.charts import chart_problems
from tracekit.report.findings import read_findings
from tracekit.report.notebooks import NOTEBOOKS

pytestmark = pytest.mark.slow

VEGALITE = "application/vnd.vegalite.v6+json"


def test_every_report_ran(report_runs: ReportRuns) -> None:
    assert sorted(name for name, _ in report_runs.runs) == sorted([*NOTEBOOKS, "order_loss"])
    for result in report_runs.all():
        assert result.ok, f"{result.name}: {result.error}"
        for name in ("report.ipynb", "report.html", "params.yaml", "run.json"):
            assert (result.folder / name).is_file(), f"{result.folder}/{name}"
        params = yaml.safe_load((result.folder / "params.yaml").read_text())
        assert Path(params["dataset"]).is_absolute()
        assert json.loads((result.folder / "run.json").read_text())["status"] == "ok"


def test_index_lists_every_run(report_runs: ReportRuns) -> None:
    index = (report_runs.out / "index.html").read_text()
    for result in report_runs.all():
        link = f'href="{result.name}/{result.folder.name}/report.html"'
        assert link in index, link
    assert not list(report_runs.out.glob(".*.tmp")), "atomic writes leave no temporary files"


def test_bottlenecks_names_the_truth_bottleneck(report_runs: ReportRuns) -> None:
    truth = report_runs.truths["mes-saturated"]
    notebook = nbformat.read(report_runs.get("bottlenecks", "mes-saturated").notebook, 4)
    findings = read_findings(notebook)
    assert findings["bottleneck"] == truth["bottleneck"]
    summary = _markdown_of_tagged(notebook, "findings")
    assert f"**{truth['bottleneck']} is the main bottleneck**" in summary


def test_order_loss_shows_the_truth_lost_messages(report_runs: ReportRuns) -> None:
    truth = report_runs.truths["queue-loss"]
    notebook = nbformat.read(report_runs.get("order_loss", "queue-loss").notebook, 4)
    findings = read_findings(notebook)
    assert findings["lost_messages"] == len(truth["lost_messages"]) > 0
    assert f"**{len(truth['lost_messages']):,} messages were published and never consumed**" in (
        _all_markdown(notebook)
    )
    # telemetry loss is reported apart from business loss
    assert findings["orphan_spans"] == truth["orphaned_spans"]
    # example traces link to the Jaeger UI, and the lost-message examples are truly lost ones
    page = report_runs.get("order_loss", "queue-loss").html.read_text()
    linked = set(re.findall(re.escape(UI) + r"/trace/([0-9a-f]{32})", page))
    lost_traces = {message["trace_id"] for message in truth["lost_messages"]}
    assert len(linked & lost_traces) >= min(5, len(lost_traces))


def test_order_loss_without_loss_says_so(report_runs: ReportRuns) -> None:
    truth = report_runs.truths["mes-saturated"]
    findings = read_findings(report_runs.get("order_loss", "mes-saturated").notebook)
    assert findings["lost_messages"] == len(truth["lost_messages"])


def test_capacity_names_the_first_component_to_saturate(report_runs: ReportRuns) -> None:
    truth = report_runs.truths["mes-saturated"]
    findings = read_findings(report_runs.get("capacity", "mes-saturated").notebook)
    assert findings["first_to_saturate"] == truth["bottleneck"]
    assert findings["multipliers"] == [1.0, 2.0, 5.0, 10.0]


def test_every_chart_has_title_axis_titles_and_tooltip(report_runs: ReportRuns) -> None:
    charts = 0
    for result in report_runs.all():
        notebook = nbformat.read(result.notebook, 4)
        for index, cell in enumerate(notebook.cells):
            for output in cell.get("outputs", []):
                spec = output.get("data", {}).get(VEGALITE)
                if spec is None:
                    continue
                charts += 1
                assert not chart_problems(spec), (result.name, index, chart_problems(spec))
                assert "vegaEmbed(" in output["data"]["text/html"]
    assert charts >= 12


def test_explore_runs_the_sql_cells(report_runs: ReportRuns) -> None:
    notebook = nbformat.read(report_runs.get("explore", "mes-saturated").notebook, 4)
    sql_cells = [cell for cell in notebook.cells if cell.source.startswith("%%sql")]
    assert len(sql_cells) >= 3
    assert all(cell.outputs is not None for cell in sql_cells)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


def _all_markdown(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(
        output["data"]["text/markdown"]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "text/markdown" in output.get("data", {})
    )


def _markdown_of_tagged(notebook: nbformat.NotebookNode, tag: str) -> str:
    cells = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    return _all_markdown(nbformat.v4.new_notebook(cells=cells))


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
