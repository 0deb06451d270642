"""Executed notebook -> one self-contained HTML file that opens from disk with no network.

nbconvert's ``lab`` template loads require.js, MathJax and mermaid from CDNs in ``<head>``; our
template (a string, so it ships without package data) extends it and drops those blocks. Charts
bring their own inlined scripts (see :mod:`tracekit.report.charts`). Notebooks whose metadata
says ``"tracekit": {"hide_input": true}`` are exported without their code, as a report for
readers rather than authors.
"""

from __future__ import annotations

import os
import uuid
from copy import deepcopy
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from tracekit.report.findings import MIMETYPE as FINDINGS_MIMETYPE

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
</style>
{% endblock extra_css %}
"""


def notebook_to_html(notebook: nbformat.NotebookNode, *, title: str | None = None) -> str:
    """Render an (executed) notebook as offline HTML text."""
    notebook = _without_findings(notebook)
    hide_input = bool(notebook.metadata.get("tracekit", {}).get("hide_input", False))
    exporter = HTMLExporter(
        template_name="lab",
        template_file=TEMPLATE_FILE,
        extra_loaders=[DictLoader({TEMPLATE_FILE: _TEMPLATE})],
        exclude_input=hide_input,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    resources = {"metadata": {"name": title}} if title else None
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    return body


def _without_findings(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without the machine-readable findings outputs (nothing to show a reader)."""
    copy = deepcopy(notebook)
    for cell in copy.cells:
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if FINDINGS_MIMETYPE not in o.get("data", {})]
    return copy


def write_html(
    notebook_path: str | os.PathLike[str],
    html_path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Export ``notebook_path`` to ``html_path`` atomically (a reader never sees half a file)."""
    notebook = nbformat.read(notebook_path, as_version=4)
    target = Path(html_path)
    write_text_atomic(target, notebook_to_html(notebook, title=title))
    return target


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
