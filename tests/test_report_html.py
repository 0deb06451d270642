"""Offline HTML export and the run index, without a kernel (fast)."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import altair as alt
import nbformat
import numpy as np
import pandas as pd
import yaml

from tracekit.report import charts
from tracekit.report.findings import MIMETYPE, read_findings
from tracekit.report.html import notebook_to_html
from tracekit.report.index import list_runs, write_index


def _chart_output(title: str) -> nbformat.NotebookNode:
    frame = pd.DataFrame({"service": ["mes", "crm"], "p95_ms": [5200.0, 120.0]})
    chart = (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X("p95_ms:Q", title="p95 (ms)"),
            y=alt.Y("service:N", title="service"),
            tooltip=["service", "p95_ms"],
        )
    )
    bundle, _ = charts.render(chart.to_dict())
    return nbformat.v4.new_output("display_data", data=bundle)


def test_charts_inline_vega_once_and_fetch_nothing() -> None:
    charts.enable_offline_charts()
    cell = nbformat.v4.new_code_cell("chart")
    cell.outputs = [_chart_output("first </script> chart"), _chart_output("second")]
    findings = nbformat.v4.new_output("display_data", data={MIMETYPE: {"bottleneck": "mes"}})
    cell.outputs.append(findings)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), cell])
    notebook.metadata["tracekit"] = {"hide_input": True}
    page = notebook_to_html(notebook, title="t")
    assert page.count("window.vegaEmbed=") == 1, "the vega bundle is inlined exactly once"
    assert page.count('class="tracekit-chart"') == 2
    assert "first \\u003c/script\\u003e chart" in page  # a title cannot close the element
    external = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?:[^"]+)"', page)
    assert not external, external
    assert "mathjax" not in page.lower() and "require.min.js" not in page
    assert read_findings(notebook) == {"bottleneck": "mes"}
    assert MIMETYPE not in page, "findings are for machines, not shown"


def test_chart_problems_names_what_is_missing() -> None:
    bare = alt.Chart(pd.DataFrame({"a": [1]})).mark_point().encode(x="a:Q", y="a:Q").to_dict()
    assert set(charts.chart_problems(bare)) == {
        "no title",
        "no tooltip",
        "x axis of 'a' has no title",
        "y axis of 'a' has no title",
    }


def test_index_lists_runs_newest_first(tmp_path: Path) -> None:
    for name, stamp, status in [
        ("capacity", "20261125T010000Z", "ok"),
        ("bottlenecks", "20261125T020000Z", "failed"),
    ]:
        folder = tmp_path / name / stamp
        folder.mkdir(parents=True)
        started = f"2026-11-25T{stamp[9:11]}:00:00+00:00"
        run = {
            "name": name,
            "status": status,
            "started": started,
            "seconds": 1.5,
            "error": "cell 6 raised KeyError: 'x'" if status == "failed" else None,
        }
        (folder / "run.json").write_text(json.dumps(run))
        (folder / "params.yaml").write_text(yaml.safe_dump({"dataset": "/d/prod", "since": "24h"}))
    (tmp_path / "explore" / "20261125T030000Z").mkdir(parents=True)  # a run just starting
    assert [run["name"] for run in list_runs(tmp_path)] == ["bottlenecks", "capacity"]
    page = write_index(tmp_path).read_text()
    assert page.index("bottlenecks/20261125T020000Z") < page.index("capacity/20261125T010000Z")
    shown = html.unescape(page)  # what a reader sees: text is written as character references
    assert "cell 6 raised KeyError" in shown and "since=24h" in shown
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        ".index.lock",
        "index.html",
    ]


def _run_folder(root: Path, name: str, stamp: str, dataset: str, **run: object) -> None:
    folder = root / name / stamp
    folder.mkdir(parents=True)
    started = f"2026-11-{stamp[6:8]}T{stamp[9:11]}:00:00+00:00"
    payload = {"name": name, "status": "ok", "started": started, "seconds": 3.0, **run}
    (folder / "run.json").write_text(json.dumps(payload))
    (folder / "params.yaml").write_text(yaml.safe_dump({"dataset": dataset, "since": "24h"}))


def _figures(wait_share: float) -> list[dict[str, object]]:
    return [
        {
            "key": "wait_share:mes",
            "label": "mes wait share",
            "value": wait_share,
            "kind": "percent",
        },
        {"key": "own_p95:mes", "label": "mes own work p95", "value": 3300.0, "kind": "ms"},
    ]


def test_index_puts_each_reports_latest_finding_first_with_its_change(tmp_path: Path) -> None:
    hostile = '<img src=x onerror="window.__xss=1"> is saturated'
    _run_folder(
        tmp_path,
        "bottlenecks",
        "20261124T060000Z",
        "/d/prod",
        headline="mes is slow",
        figures=_figures(0.06),
    )
    _run_folder(
        tmp_path,
        "bottlenecks",
        "20261125T060000Z",
        "/d/prod",
        headline=hostile,
        action="Add workers",
        figures=_figures(0.39),
    )
    _run_folder(
        tmp_path,
        "bottlenecks",
        "20261125T070000Z",
        "/d/other",
        headline="crm is slow",
        figures=_figures(0.5),
    )
    _run_folder(tmp_path, "capacity", "20261125T050000Z", "/d/prod", headline="nothing saturates")
    page = write_index(tmp_path).read_text()
    latest, everything = page.split("<h2>All runs</h2>")
    # one row per report and dataset, newest first; the older prod run only under "All runs"
    assert latest.count("<tr><td><a") == 3
    assert (
        latest.index("bottlenecks/20261125T070000Z")
        < latest.index("bottlenecks/20261125T060000Z")
        < latest.index("capacity/20261125T050000Z")
    )
    assert (
        "bottlenecks/20261124T060000Z" not in latest
        and "bottlenecks/20261124T060000Z" in everything
    )
    row = latest.split("bottlenecks/20261125T060000Z", 1)[1].split("</tr>", 1)[0]
    shown = html.unescape(re.sub(r"<[^>]+>", "", row))  # the text a reader sees
    assert hostile in shown and "mes wait share 39% (+33 points)" in shown
    assert "mes own work p95 3.3 s (unchanged)" in shown
    assert "<img" not in page and "onerror=" not in page.replace("onerror&#61;", "")
    assert "script-src 'none'" in page and "<script" not in page


def test_months_of_windows_draw_their_peaks_not_every_point() -> None:
    # 50 days of 5-minute windows for 7 components: 100,800 rows, over the 50,000 rows a chart
    # may hold (the capacity report failed on the scale benchmark's 50 days). Each series is
    # thinned to its busiest windows, and every series' peak survives.
    rng = np.random.default_rng(seed := int(np.random.SeedSequence().entropy % 2**32))
    times = pd.date_range("2026-01-05", periods=50 * 288, freq="5min")
    frame = pd.concat(
        pd.DataFrame({"window_start": times, "rate": rng.gamma(2.0, 3.0, len(times)), "service": s})
        for s in "abcdefg"
    )
    chart = charts.lines_over_time(
        frame,
        time="window_start",
        value="rate",
        series="service",
        title="Load",
        y_title="arrivals per second",
        series_title="component",
        empty="none",
    )
    spec = chart.to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) <= 7 * charts.LINE_POINTS, seed
    assert (
        spec["title"]
        == f"Load; the busiest of every {math.ceil(len(times) / charts.LINE_POINTS)} shown"
    )
    shown = pd.DataFrame(rows).groupby("service")["rate"].max()
    assert np.allclose(shown.sort_index(), frame.groupby("service")["rate"].max().sort_index()), (
        seed
    )


def test_forecast_lines_leave_out_unknown_values_and_cross_only_saturation() -> None:
    """A utilization of unknown workers (NaN, not saturated) is not a saturation: it is left out
    and named under the title, not drawn at the cap with a red cross (the capacity report showed
    crm, model-storage and order-queue saturated at today's load). A saturated point with no
    value (a caller that waits on a saturated callee) is still a cross at the cap."""
    nan = float("nan")
    frame = pd.DataFrame(
        {
            "service": ["mes"] * 3 + ["crm"] * 3 + ["shop"] * 3,
            "multiplier": [1.0, 2.0, 5.0] * 3,
            "utilization": [0.4, 0.8, 2.0, nan, nan, nan, nan, nan, nan],
            "saturated": [False, False, True, False, False, False, False, False, True],
        }
    )
    chart = charts.multiplier_lines(
        frame,
        value="utilization",
        title="Utilization",
        y_title="utilization",
        cap=1.2,
        percent=True,
        missing="Not drawn: {names}.",
        empty="none",
    )
    spec = chart.to_dict()
    assert spec["title"] == {"text": "Utilization", "subtitle": ["Not drawn: crm."]}
    drawn = {
        (row["service"], row["multiplier"]): (row["shown"], row["state"])
        for rows in spec["datasets"].values()
        for row in rows
    }
    assert drawn == {
        ("mes", 1.0): (0.4, "ok"),
        ("mes", 2.0): (0.8, "ok"),
        ("mes", 5.0): (1.2, "saturated"),
        ("shop", 5.0): (1.2, "saturated"),
    }
    unknown = frame[frame["service"] == "crm"]
    nothing = charts.multiplier_lines(
        unknown, value="utilization", title="t", y_title="u", cap=1.2, empty="none",
        missing="Not drawn: {names}.",
    )  # fmt: skip
    assert str(nothing) == "Not drawn: crm."
