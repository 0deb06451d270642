"""Altair charts that render in JupyterLab and, offline, in the exported HTML report.

Altair's default output is a Vega-Lite mimebundle that JupyterLab draws but nbconvert cannot,
and its HTML renderers fetch vega from a CDN. The ``tracekit`` renderer emits both: the
Vega-Lite JSON (JupyterLab uses it) and ``text/html`` that calls ``vegaEmbed`` (the exported
report uses it). The vega / vega-lite / vega-embed JavaScript, from vl-convert, is inlined once,
with the first chart of the notebook, so a report opened from disk needs no network.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import altair as alt

RENDERER = "tracekit"
MAX_ROWS = 50_000  # charts take aggregates; a larger frame is a mistake worth an error
_state = {"bundle_sent": False}


@cache
def vega_bundle() -> str:
    """The vega-embed + vega-lite + vega JavaScript (one classic script defining window.vegaEmbed).

    Bundling takes vl-convert several seconds, so the result is kept in the user's cache folder,
    keyed by the vl-convert and Vega-Lite versions.
    """
    import vl_convert as vlc

    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    version = major_minor if major_minor in vlc.get_vegalite_versions() else None
    cache_file = _cache_dir() / f"vega-bundle-{metadata.version('vl-convert-python')}-{version}.js"
    with contextlib.suppress(OSError):
        return cache_file.read_text(encoding="utf-8")
    bundle: str = vlc.javascript_bundle(vl_version=version)  # type: ignore[call-arg]
    with contextlib.suppress(OSError):
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f".{cache_file.name}.{uuid.uuid4().hex}")
        tmp.write_text(bundle, encoding="utf-8")
        os.replace(tmp, cache_file)
    return bundle


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tracekit"


def _script_safe(text: str) -> str:
    # "</script" would end the script element early; "<\/" means the same inside JS strings,
    # regular expressions and template literals. (A blanket "</" -> "<\/" breaks regex literals.)
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.I)


def chart_html(spec: dict[str, Any], element_id: str, *, with_bundle: bool) -> str:
    """HTML that draws ``spec`` into a div, optionally preceded by the inlined vega bundle."""
    parts = []
    if with_bundle:
        parts.append(f'<script type="text/javascript">{_script_safe(vega_bundle())}</script>')
    parts.append(
        f'<div class="tracekit-chart" id="{element_id}"></div>\n'
        '<script type="text/javascript">\n(function () {\n'
        f'  var el = document.getElementById("{element_id}");\n'
        f"  var spec = {_script_safe(json.dumps(spec))};\n"
        '  if (typeof vegaEmbed !== "function") {\n'
        '    el.className += " tracekit-chart-error";\n'
        '    el.textContent = "chart not drawn: the vega scripts are missing";\n'
        "    return;\n  }\n"
        '  vegaEmbed(el, spec, {actions: false, renderer: "svg"})\n'
        "    .then(function () { el.setAttribute('data-rendered', 'true'); })\n"
        "    .catch(function (err) {\n"
        '      el.className += " tracekit-chart-error";\n'
        '      el.textContent = "chart not drawn: " + err;\n'
        "    });\n})();\n</script>"
    )
    return "\n".join(parts)


def render(spec: dict[str, Any], **metadata: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Altair renderer: Vega-Lite JSON for JupyterLab plus self-contained HTML."""
    with_bundle = not _state["bundle_sent"]
    _state["bundle_sent"] = True
    major = alt.SCHEMA_VERSION.lstrip("v").split(".")[0]
    bundle = {
        f"application/vnd.vegalite.v{major}+json": spec,
        "text/html": chart_html(spec, f"tk-{uuid.uuid4().hex[:12]}", with_bundle=with_bundle),
        "text/plain": f"<VegaLite {major} chart: {spec.get('title', 'untitled')}>",
    }
    return bundle, {}


def enable_offline_charts() -> None:
    """Use the ``tracekit`` renderer for every Altair chart in this kernel.

    >>> enable_offline_charts()  # first cell of a report notebook
    """
    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, render)
    alt.renderers.enable(RENDERER)
    alt.data_transformers.enable("default", max_rows=MAX_ROWS)
    _state["bundle_sent"] = False


def chart_problems(spec: dict[str, Any]) -> list[str]:
    """What a chart spec lacks of the house rules: a title, axis titles, a tooltip.

    Used by the tests on every chart of every executed report.
    """
    problems: list[str] = []
    if not spec.get("title"):
        problems.append("no title")
    layers = _leaf_specs(spec)
    if not any("tooltip" in layer.get("encoding", {}) for layer in layers):
        problems.append("no tooltip")
    for layer in layers:
        for channel in ("x", "y"):
            encoding = layer.get("encoding", {}).get(channel)
            if isinstance(encoding, dict) and "field" in encoding and not _has_title(encoding):
                problems.append(f"{channel} axis of {encoding['field']!r} has no title")
    return problems


def _has_title(encoding: dict[str, Any]) -> bool:
    axis = encoding.get("axis") or {}
    return bool(encoding.get("title") or (isinstance(axis, dict) and axis.get("title")))


def _leaf_specs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    children: list[dict[str, Any]] = []
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in spec.get(key, []):
            children.extend(_leaf_specs(child))
    if "spec" in spec:
        children.extend(_leaf_specs(spec["spec"]))
    return children or [spec]
