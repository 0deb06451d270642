"""Escaping for reports: every text that comes from trace data or parameters passes through here.

Any instrumented service can put any string into a span (its name, operation, attributes,
status message, event names, even non-hex trace ids), and report parameters are typed by
people; both end up in Markdown prose, HTML tables, chart specs and links. One rule covers
Markdown and HTML alike: :func:`escape` turns every character that could mean something to
either (``<>&"'``, Markdown's ``*_`[]()!#|\\~$`` and the rest of ASCII punctuation) into a
numeric character reference. CommonMark decodes references to plain text and never reads them
as syntax, and HTML shows them as the character, so the escaped text reads exactly as the data
while no tag, attribute, link or emphasis can come out of it. Line breaks and other control or
format characters (which could start a Markdown block or reorder text) become spaces.

Text that is already safe (our own formatted numbers, markup built from escaped parts) is a
:class:`Markup`; :func:`escape` passes it through unchanged.

>>> escape('<img src=x onerror="alert(1)">')
'&#60;img src&#61;x onerror&#61;&#34;alert&#40;1&#41;&#34;&#62;'
>>> escape(Markup("<b>42</b>"))
'<b>42</b>'
"""

from __future__ import annotations

import html
import json
import math
import unicodedata
from typing import Any
from urllib.parse import quote


class Markup(str):
    """Text that is safe to put into Markdown or HTML as it is (built by this package)."""

    __slots__ = ()


_SAFE_ASCII = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ")


def _escape_char(char: str) -> str:
    if char in _SAFE_ASCII:
        return char
    if char in "\t\n\r\f\v":
        return " "
    if ord(char) < 128:
        return f"&#{ord(char)};"  # ASCII punctuation and control characters
    category = unicodedata.category(char)
    if category[0] in "CZ" and category != "Zs":  # controls, format (bidi), line separators
        return " "
    return char


def escape(value: Any) -> Markup:
    """``value`` as text that shows literally in Markdown and in HTML (text or attribute).

    Markup passes through; anything else is converted with ``str`` first.
    """
    if isinstance(value, Markup):
        return value
    return Markup("".join(_escape_char(char) for char in str(value)))


def code(value: Any) -> Markup:
    """``value`` shown as an identifier (monospace), escaped: services, operations, trace ids."""
    return Markup(f"<code>{escape(value)}</code>")


def url_component(value: Any) -> str:
    """``value`` percent-encoded for one path segment or query value of a URL."""
    return quote(str(value), safe="")


def href(url: str) -> Markup:
    """A URL for an ``href`` attribute (quoted with double quotes): HTML's special characters
    escaped, the rest kept readable. Build the URL from percent-encoded parts
    (:func:`url_component`) and only with schemes you chose (http(s), relative paths)."""
    return Markup(html.escape(url, quote=True))


def link(url: str, text: Any) -> Markup:
    """An HTML link to ``url`` (see :func:`href`) whose ``text`` is escaped."""
    return Markup(f'<a href="{href(url)}">{escape(text)}</a>')


def script_json(value: Any) -> str:
    """JSON for inside a ``<script>`` element: ``<``, ``>``, ``&`` and the JavaScript line
    separators become ``\\u`` escapes, so no data can end the element or open a comment."""
    try:
        text = json.dumps(value, default=str, allow_nan=False)
    except ValueError:  # NaN or infinity, which JSON cannot hold: null, as Vega reads missing
        text = json.dumps(_finite(value), default=str, allow_nan=False)
    for char, replacement in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, replacement)
    return text


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
