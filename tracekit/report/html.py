"""Executed notebook -> one self-contained HTML file that opens from disk with no network.

nbconvert's ``lab`` template loads require.js, MathJax and mermaid from CDNs in ``<head>``; our
template (a string, so it ships without package data) extends it and drops those blocks. Charts
bring their own inlined scripts (see :mod:`tracekit.report.charts`). Notebooks whose metadata
says ``"tracekit": {"hide_input": true}`` are exported without their code, as a report for
readers rather than authors, except cells tagged ``show-input`` (explore's SQL cells).

Every page carries a Content-Security-Policy that lets only the chart scripts run
(:mod:`tracekit.report.csp`) and, when the runner knows them, a header naming the report, the
dataset, the window and when it was made, with a link back to the index.
"""

from __future__ import annotations

import os
import uuid
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from tracekit.report.csp import with_csp
from tracekit.report.escape import escape, href
from tracekit.report.findings import MIMETYPE as FINDINGS_MIMETYPE
from tracekit.report.vega import page_scripts

SHOW_INPUT_TAG = "show-input"
TEMPLATE_FILE = "tracekit_offline.html.j2"
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
  .tracekit-chart { margin: 0.5em 0 1em 0; }
  .tracekit-chart-error { color: #b00020; font-weight: bold; }
  main { max-width: 1100px; margin: 0 auto; }
  .tk-header { max-width: 1100px; margin: 0 auto; padding: 0.6em 20px; font-size: 0.9em;
               color: #444; border-bottom: 1px solid #ddd;
               font-family: var(--jp-ui-font-family), system-ui, sans-serif; }
  .tk-header a { font-weight: bold; }
  .tk-verdict { border-left: 6px solid #1f5fa8; background: #f3f7fc; padding: 0.6em 1em;
                margin: 0.4em 0 0.8em 0; font-size: 1.08em; line-height: 1.45; }
  .tk-verdict.tk-alarm { border-left-color: #c0392b; background: #fdf3f2; }
  .tk-verdict.tk-calm { border-left-color: #1b7e2c; background: #f2faf3; }
  .tk-verdict p { margin: 0.15em 0; }
  .tk-verdict .tk-headline { font-size: 1.2em; font-weight: bold; }
  .tk-verdict .tk-action { margin-top: 0.35em; }
  .tk-scope { color: #555; font-size: 0.92em; }
</style>
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
{{ resources.get('tracekit_header', '') }}
{%- endblock body_header -%}
"""


@dataclass(frozen=True)
class PageHeader:
    """What the top of a report page says about the run (all text, escaped when shown)."""

    report: str
    dataset: str
    window: str = ""
    generated: str = ""
    index_href: str = "../../index.html"

    def html(self) -> str:
        parts = [
            f'<a href="{href(self.index_href)}">&#8592; all reports</a>',
            f"<b>{escape(self.report)}</b>",
            f"dataset <code>{escape(self.dataset)}</code>",
        ]
        if self.window:
            parts.append(escape(self.window))
        if self.generated:
            parts.append(f"generated {escape(self.generated)}")
        return f'<nav class="tk-header">{" &#183; ".join(parts)}</nav>'


def notebook_to_html(
    notebook: nbformat.NotebookNode, *, title: str | None = None, header: PageHeader | None = None
) -> str:
    """Render an (executed) notebook as offline HTML text with its Content-Security-Policy."""
    notebook = _for_readers(notebook)
    exporter = HTMLExporter(
        template_name="lab",
        template_file=TEMPLATE_FILE,
        extra_loaders=[DictLoader({TEMPLATE_FILE: _TEMPLATE})],
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    resources: dict[str, object] = {"metadata": {"name": title or "tracekit report"}}
    if header is not None:
        resources["tracekit_header"] = header.html()
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    return with_csp(body, page_scripts() if _has_charts(notebook) else ())


def _for_readers(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without the machine-readable findings outputs (nothing to show a reader), and
    without the code of cells a reader does not need (when the notebook hides its input)."""
    copy = deepcopy(notebook)
    hide_input = bool(copy.metadata.get("tracekit", {}).get("hide_input", False))
    kept = []
    for cell in copy.cells:
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if FINDINGS_MIMETYPE not in o.get("data", {})]
        hidden = (
            hide_input
            and cell.cell_type == "code"
            and SHOW_INPUT_TAG not in cell.metadata.get("tags", [])
        )
        if hidden and not cell.outputs:
            continue  # nothing of it would show but its empty box
        if hidden:
            cell.metadata.setdefault("transient", {})["remove_source"] = True
        kept.append(cell)
    copy.cells = kept
    return copy


def _has_charts(notebook: nbformat.NotebookNode) -> bool:
    return any(
        "data-tracekit-chart" in str(output.get("data", {}).get("text/html", ""))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


def write_html(
    notebook_path: str | os.PathLike[str],
    html_path: str | os.PathLike[str],
    *,
    title: str | None = None,
    header: PageHeader | None = None,
) -> Path:
    """Export ``notebook_path`` to ``html_path`` atomically (a reader never sees half a file)."""
    notebook = nbformat.read(notebook_path, as_version=4)
    target = Path(html_path)
    write_text_atomic(target, notebook_to_html(notebook, title=title, header=header))
    return target


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
