"""Findings: the few numbers a report's conclusions rest on, recorded machine-readably.

A notebook's summary cell calls :func:`record_findings`; the values travel in the executed
notebook under a private mimetype (no HTML output), so tests and scripts check a report's
conclusions (``read_findings(nb)["bottleneck"] == "mes"``) without scraping prose.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import nbformat

from tracekit.report.escape import Markup, code, href, url_component

MIMETYPE = "application/vnd.tracekit.findings+json"


def record_findings(**values: Any) -> None:
    """Attach ``values`` (JSON-serialisable) to the current cell's output."""
    from IPython.display import display

    display({MIMETYPE: _plain(json.loads(json.dumps(values, default=str)))}, raw=True)


def _plain(value: Any) -> Any:
    """JSON values only: NaN and infinities (not JSON) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def read_findings(notebook: nbformat.NotebookNode | str | os.PathLike[str]) -> dict[str, Any]:
    """Every value recorded in an executed notebook, later cells overriding earlier ones."""
    if not isinstance(notebook, nbformat.NotebookNode):
        notebook = nbformat.read(os.fspath(notebook), as_version=4)
    assert isinstance(notebook, nbformat.NotebookNode)
    found: dict[str, Any] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIMETYPE in data:
                found.update(data[MIMETYPE])
    return found


def trace_link(trace_id: str, jaeger_ui_url: str = "") -> Markup:
    """The trace id as code, linked to the trace in the Jaeger UI when its address is set.

    The id comes from data: it is percent-encoded in the link and escaped in the text.
    """
    if not jaeger_ui_url:
        return code(trace_id)
    url = f"{jaeger_ui_url.rstrip('/')}/trace/{url_component(trace_id)}"
    return Markup(f'<a href="{href(url)}">{code(trace_id)}</a>')
