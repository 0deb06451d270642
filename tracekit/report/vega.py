"""The Altair renderer of the reports: charts that draw in JupyterLab and, offline, in the
exported HTML report.

Altair's default output is a Vega-Lite mimebundle that JupyterLab draws but nbconvert cannot,
and its HTML renderers fetch vega from a CDN. The ``tracekit`` renderer emits both: the
Vega-Lite JSON (JupyterLab uses it) and ``text/html`` that calls ``vegaEmbed`` (the exported
report uses it). The vega / vega-lite / vega-embed JavaScript, from vl-convert, is inlined once,
with the first chart of the notebook, so a report opened from disk needs no network.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import altair as alt

from tracekit.report.escape import script_json

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


# Draws every chart whose spec is on the page and not drawn yet. The same text follows each
# chart, so the page's Content-Security-Policy allows it by one hash; the specs themselves are
# JSON data blocks, which are never executed. `ast: true` makes Vega interpret expressions
# instead of compiling them with Function(), which the policy (no 'unsafe-eval') forbids.
DRAW_SCRIPT = """(function () {
  var specs = document.querySelectorAll("script[data-tracekit-chart]");
  for (var i = 0; i < specs.length; i++) {
    var holder = specs[i];
    if (holder.getAttribute("data-drawn")) continue;
    holder.setAttribute("data-drawn", "true");
    var el = document.getElementById(holder.getAttribute("data-tracekit-chart"));
    if (!el) continue;
    if (typeof vegaEmbed !== "function") {
      el.className += " tracekit-chart-error";
      el.textContent = "chart not drawn: the vega scripts are missing";
      continue;
    }
    (function (el, spec) {
      vegaEmbed(el, spec, {actions: false, renderer: "svg", ast: true})
        .then(function () { el.setAttribute("data-rendered", "true"); })
        .catch(function (err) {
          el.className += " tracekit-chart-error";
          el.textContent = "chart not drawn: " + err;
        });
    })(el, JSON.parse(holder.textContent));
  }
})();"""


def bundle_script() -> str:
    """The text of the inline script that defines ``vegaEmbed`` (written once per page)."""
    return _script_safe(vega_bundle())


def page_scripts() -> list[str]:
    """The texts of every inline script a report page may hold: the bundle and DRAW_SCRIPT
    (the page's Content-Security-Policy allows exactly these)."""
    return [bundle_script(), DRAW_SCRIPT]


def chart_html(spec: dict[str, Any], element_id: str, *, with_bundle: bool) -> str:
    """HTML that draws ``spec`` into a div, optionally preceded by the inlined vega bundle.

    The spec travels as a JSON data block escaped by :func:`~tracekit.report.escape.script_json`,
    so no value in it (trace data) can end the element.
    """
    parts = []
    if with_bundle:
        parts.append(f'<script type="text/javascript">{bundle_script()}</script>')
    parts.append(
        f'<div class="tracekit-chart" id="{element_id}"></div>\n'
        f'<script type="application/json" data-tracekit-chart="{element_id}">'
        f"{script_json(spec)}</script>\n"
        f'<script type="text/javascript">{DRAW_SCRIPT}</script>'
    )
    return "\n".join(parts)


def render(spec: dict[str, Any], **metadata: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Altair renderer: Vega-Lite JSON for JupyterLab plus self-contained HTML."""
    with_bundle = not _state["bundle_sent"]
    _state["bundle_sent"] = True
    major = alt.SCHEMA_VERSION.lstrip("v").split(".")[0]
    title = spec.get("title", "untitled")
    title = title.get("text", "untitled") if isinstance(title, dict) else title
    bundle = {
        f"application/vnd.vegalite.v{major}+json": spec,
        "text/html": chart_html(spec, f"tk-{uuid.uuid4().hex[:12]}", with_bundle=with_bundle),
        "text/plain": f"<VegaLite {major} chart: {title}>",
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
