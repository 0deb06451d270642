"""Escaping and number formatting of report prose, tables, charts and links (no kernel, fast).

Trace data is untrusted: whatever a span carries must reach the page as text. These tests render
the way the report page does (nbconvert's Markdown renderer, pandas' Styler HTML) and read the
result back with an HTML parser: no element or attribute may come out of the data, and the text
a reader sees must be the data, character for character.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
import yaml
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from tests.conftest import REPO
from tracekit.report import prose
from tracekit.report.csp import with_csp
from tracekit.report.escape import Markup, code, script_json
from tracekit.report.findings import trace_link
from tracekit.report.html import notebook_to_html
from tracekit.report.tables import show_table

PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    '"><svg onload=window.__xss=3>',
    "[click](javascript:window.__xss=4)",
    "</script><script>window.__xss=5</script>",
    "**bold** _it_ `code` $x$ $$y$$ ~~s~~ | a | b |",
    "<!-- comment --> &amp; &lt;b&gt; \\<i>",
    "line one\n# heading\n\n    indented\n- item",
    "{model_id} {{7*7}} %s",
    "ünïcödé ✓ \u202etxet desrever\u202c zero\u200bwidth",
]
CASES = yaml.safe_load((REPO / "tests" / "cases" / "report" / "formats.yaml").read_text())


class _Reader(HTMLParser):
    """The elements, attributes and text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _read(fragment: str) -> _Reader:
    reader = _Reader()
    reader.feed(fragment)
    reader.close()
    return reader


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escaped_values_render_as_their_own_text_in_markdown(payload: str) -> None:
    page = markdown2html_mistune(
        prose.say("Service **{name}** and {ident}.", name=payload, ident=code(payload))
    )
    reader = _read(page)
    assert set(reader.tags) <= {"p", "strong", "code"}, reader.tags
    assert not reader.attributes, reader.attributes
    shown = " ".join("".join(reader.text).split())
    expected = " ".join(
        payload.replace("\u202e", " ").replace("\u202c", " ").replace("\u200b", " ").split()
    )
    assert shown == f"Service {expected} and {expected}.", (payload, shown)


def test_random_printable_text_survives_escaping() -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    alphabet = "".join(chr(c) for c in range(32, 127)) + "äß✓"
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
        reader = _read(markdown2html_mistune(prose.say("x {v} y", v=text)))
        assert not reader.attributes and set(reader.tags) <= {"p"}, (seed, text)
        assert " ".join("".join(reader.text).split()) == " ".join(f"x {text} y".split()), (
            seed,
            text,
        )


def test_say_refuses_what_would_read_wrong() -> None:
    with pytest.raises(TypeError):
        prose.say("{flag}", flag=True)  # never "True" in a report
    with pytest.raises(ValueError, match="backticks"):
        prose.say("`{name}`", name="a")  # references are not decoded inside a code span
    with pytest.raises(TypeError):
        prose.join(["<b>raw</b>"])  # type: ignore[list-item]
    joined = prose.join([prose.say("{a}", a="<x>"), prose.say("{b}", b="{y}")])
    assert joined == "&#60;x&#62;, &#123;y&#125;" and isinstance(joined, Markup)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['call']}{c['args']}")
def test_numbers_read_as_a_reader_expects(case: dict[str, Any]) -> None:
    args = case["args"]
    if case["call"] in ("period", "moment"):
        args = [datetime.fromisoformat(a) for a in args]
    if case["call"] == "length":
        args = [pd.Timedelta(seconds=args[0]).to_pytimedelta()]
    assert getattr(prose, case["call"])(*args) == case["expect"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_tables_escape_cells_and_headers(payload: str) -> None:
    frame = pd.DataFrame({"service": [payload], payload: [0.25], "ok": [True], "n": [18590.0]})
    page = show_table(frame, percent=[payload]).to_html()
    reader = _read(page)
    assert set(reader.tags) <= {"style", "table", "thead", "tbody", "tr", "th", "td"}, reader.tags
    assert all(name in ("id", "class", "type") for name, _ in reader.attributes), reader.attributes
    text = "".join(reader.text)
    assert "25%" in text and "yes" in text and "18,590" in text and "True" not in text


def test_chart_data_cannot_end_its_script_element() -> None:
    spec = {"data": {"values": [{"name": p} for p in PAYLOADS]}, "title": "</script><!--"}
    text = script_json(spec)
    assert not set("<>&") & set(text)
    assert json.loads(text) == json.loads(json.dumps(spec))
    assert json.loads(script_json({"x": float("nan")})) == {"x": None}


def test_trace_links_encode_the_id() -> None:
    link = trace_link('a"><img src=x>/../x?y#z', "http://jaeger:16686/")
    reader = _read(link)
    assert reader.tags == ["a", "code"]
    assert reader.attributes == [
        ("href", "http://jaeger:16686/trace/a%22%3E%3Cimg%20src%3Dx%3E%2F..%2Fx%3Fy%23z")
    ]
    assert "".join(reader.text) == 'a"><img src=x>/../x?y#z'


def test_the_policy_allows_only_the_scripts_named() -> None:
    page = "<html><head></head><body><script>ours()</script><script>theirs()</script></body>"
    secured = with_csp(page, ["ours()"])
    policy = secured.split('content="', 1)[1].split('"', 1)[0]

    def digest(body: str) -> str:
        return base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()

    assert f"'sha256-{digest('ours()')}'" in policy
    assert digest("theirs()") not in policy
    assert "unsafe-inline' " not in policy.split("style-src")[0] and "unsafe-eval" not in policy
    assert secured.index("Content-Security-Policy") < secured.index("<script>")


def test_a_page_without_charts_allows_no_script(tmp_path: Path) -> None:
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<script>bad()</script>"})
    ]
    page = notebook_to_html(nbformat.v4.new_notebook(cells=[cell]))
    assert "script-src 'none'" in page
