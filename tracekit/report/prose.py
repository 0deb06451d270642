"""Sentences with numbers in them: ``say`` fills a Markdown template with escaped values, and the
formatters write numbers the way a reader expects (thousands separators, plurals, percentages,
durations in the unit that fits, 24-hour UTC times).

Templates are ours (written in the notebooks); the values are data, so :func:`say` escapes every
value that is not already :class:`~tracekit.report.escape.Markup` (what the formatters return).

>>> say("**{service}** holds {share} of {traces}", service="mes", share=percent(0.918),
...     traces=count(1933, "trace"))
'**mes** holds 92% of 1,933 traces'
>>> say("{name}", name="<b>")
'&#60;b&#62;'
"""

from __future__ import annotations

import math
import numbers
import string
from collections.abc import Iterable
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from tracekit.report.escape import Markup, code, escape


class Prose(Markup):
    """Markdown text with its values escaped; shown as Markdown in a notebook."""

    __slots__ = ()

    def _repr_markdown_(self) -> str:
        return str(self)


def say(template: str, **values: Any) -> Prose:
    """``template`` (Markdown with ``{name}`` fields) filled with escaped ``values``.

    Numbers are formatted with :func:`number`; booleans are refused (a reader should never see
    ``True``); anything else is escaped text unless it is Markup.
    """
    inside_code = template.split("`")[1::2]
    if any("{" in part for part in inside_code):
        # Character references are not decoded inside a code span: the reader would see them.
        raise ValueError("say(): a {field} inside backticks; pass the value as code(value)")
    filled = {name: _field(name, value) for name, value in values.items()}
    used = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    missing = sorted(used - set(filled))
    if missing:
        raise KeyError(f"say(): no value for {', '.join(missing)}")
    return Prose(template.format(**filled))


def _field(name: str, value: Any) -> Markup:
    if isinstance(value, Markup):
        return value
    if isinstance(value, bool):
        raise TypeError(f"say(): {name} is a bool; write the sentence for each case instead")
    if isinstance(value, numbers.Number):
        return number(value)
    return escape(value)


def number(value: Any, decimals: int | None = None) -> Markup:
    """``1933`` -> ``1,933``; a float gets one decimal below 100 and none above (an integral
    float none at all, so a count never reads ``18,590.0``); ``decimals`` fixes the places."""
    if value is None or isinstance(value, float) and not math.isfinite(value):
        return Markup("–")
    if decimals is not None:
        return Markup(f"{float(value):,.{decimals}f}")
    if isinstance(value, numbers.Integral) or float(value).is_integer():
        return Markup(f"{int(value):,}")
    places = 0 if abs(float(value)) >= 100 else 1 if abs(float(value)) >= 1 else 2
    return Markup(f"{float(value):,.{places}f}")


def plural(n: float, noun: str, plural_form: str | None = None) -> str:
    """The noun for ``n`` things: ``plural(1, "trace")`` -> ``trace``."""
    if n == 1:
        return noun
    if plural_form:
        return plural_form
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def count(n: Any, noun: str, plural_form: str | None = None) -> Markup:
    """``count(1933, "trace")`` -> ``1,933 traces``; ``count(1, "trace")`` -> ``1 trace``."""
    whole = int(round(float(n)))
    return Markup(f"{whole:,} {escape(plural(whole, noun, plural_form))}")


def percent(share: Any) -> Markup:
    """A share (0.386) as a percentage: ``38.6%`` below 10% ... ``39%`` above; never ``0%`` or
    ``100%`` for a share that is not exactly that (``<0.1%``, ``>99.9%``)."""
    if share is None or isinstance(share, float) and not math.isfinite(share):
        return Markup("–")
    value = float(share) * 100
    if value == 0 or value == 100:
        return Markup(f"{value:.0f}%")
    magnitude = abs(value)
    if magnitude < 0.1:
        return Markup(("-" if value < 0 else "") + "<0.1%")
    if 99.9 < magnitude < 100:
        return Markup(">99.9%")
    if magnitude < 10 or 99.5 <= magnitude < 100:  # 99.6% must not read 100%
        text = f"{value:.1f}"
        return Markup(text.removesuffix(".0") + "%")
    return Markup(f"{value:,.0f}%")


def points(delta: Any) -> Markup:
    """A difference of two shares in percentage points, signed: ``+5.2 points``."""
    value = float(delta) * 100
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    magnitude = abs(value)
    text = f"{magnitude:.1f}" if magnitude < 10 else f"{magnitude:.0f}"
    return Markup(f"{sign}{text} points")


def change(before: Any, after: Any) -> Markup:
    """The relative change from ``before`` to ``after``: ``+42%``, ``−12%``, ``×3.1``."""
    b, a = float(before), float(after)
    if b == 0:
        return Markup("new" if a else "±0%")
    ratio = a / b
    if ratio >= 3:
        return Markup(f"×{ratio:.1f}")
    value = (ratio - 1) * 100
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    magnitude = abs(value)
    return Markup(f"{sign}{magnitude:.1f}%" if magnitude < 10 else f"{sign}{magnitude:.0f}%")


def duration(ms: Any) -> Markup:
    """Milliseconds in the unit that reads best: ``0.4 ms``, ``343 ms``, ``7.3 s``, ``2.5 min``,
    ``3.1 h``."""
    if ms is None or isinstance(ms, float) and not math.isfinite(ms):
        return Markup("–")
    value = float(ms)
    magnitude = abs(value)
    if magnitude < 1:
        return Markup(f"{value:.2f} ms")
    if magnitude < 10:
        return Markup(f"{value:.1f} ms")
    if magnitude < 1000:
        return Markup(f"{value:.0f} ms")
    if magnitude < 60_000:
        seconds = value / 1000
        text = f"{seconds:.1f}".removesuffix(".0") if abs(seconds) < 10 else f"{seconds:.0f}"
        return Markup(f"{text} s")
    if magnitude < 3_600_000:
        return Markup(f"{value / 60_000:.1f} min")
    return Markup(f"{value / 3_600_000:,.1f} h")


def utilization(share: Any) -> Markup:
    """A utilization (share of workers busy) as readers take it: a percentage below 1, and
    ``saturated`` from 1 on. More work than the workers could do arrived then (a window's
    requests hold them past its end), and "103% busy" would read as busier than always busy.

    >>> utilization(0.734), utilization(1.03)
    ('73%', 'saturated')
    """
    if share is not None and math.isfinite(float(share)) and float(share) >= 1:
        return Markup("saturated")
    return percent(share)


def times(ratio: Any) -> Markup:
    """A multiplier: ``2.2×``, ``10×``."""
    value = float(ratio)
    text = f"{value:,.1f}" if value < 10 else f"{value:,.0f}"
    return Markup((text[:-2] if text.endswith(".0") else text) + "×")


def moment(at: datetime) -> Markup:
    """``2026-01-05 17:00 UTC`` (24-hour clock; the data's times are UTC)."""
    return Markup(f"{at:%Y-%m-%d %H:%M} UTC")


def period(start: datetime, end: datetime) -> Markup:
    """``2026-01-05 17:00–18:00 UTC``, or both dates when the period crosses midnight."""
    shown_end = end
    if end.second or end.microsecond:  # an exclusive end just past the last span
        shown_end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if start.date() == shown_end.date() or shown_end == datetime.combine(
        start.date() + timedelta(days=1), datetime.min.time()
    ):
        end_text = f"{shown_end:%H:%M}" if shown_end.date() == start.date() else "24:00"
        return Markup(f"{start:%Y-%m-%d %H:%M}–{end_text} UTC")
    return Markup(f"{start:%Y-%m-%d %H:%M} – {shown_end:%Y-%m-%d %H:%M} UTC")


def length(delta: timedelta) -> Markup:
    """A window length in words: ``1 h``, ``90 min``, ``2 days``."""
    minutes = delta.total_seconds() / 60
    if minutes < 120 and not (minutes >= 60 and minutes % 60 == 0):
        return Markup(f"{minutes:,.0f} min")
    hours = minutes / 60
    if hours < 48:
        return Markup(f"{hours:,.0f} h" if hours.is_integer() else f"{hours:,.1f} h")
    days = hours / 24
    return Markup(f"{days:,.0f} days" if days.is_integer() else f"{days:,.1f} days")


def names(values: Iterable[Any], *, limit: int = 6, as_code: bool = True) -> Markup:
    """``a, b and c`` (each escaped, as code by default); more than ``limit`` end in ``and N
    more``."""
    items = [code(v) if as_code else escape(v) for v in values]
    if len(items) > limit:
        rest = len(items) - (limit - 1)
        items = [*items[: limit - 1], Markup(f"{rest:,} more")]
    if not items:
        return Markup("none")
    if len(items) == 1:
        return items[0]
    return Markup(", ".join(items[:-1]) + " and " + items[-1])


def join(parts: Iterable[Markup], separator: str = ", ") -> Prose:
    """Escaped parts (made by :func:`say` or the formatters) joined, still escaped: a list of
    sentences (``separator="\\n"`` with ``- `` items) or a list inside one. Never pass the joined
    text back to :func:`say` as a template: data may hold braces."""
    items = list(parts)
    if not all(isinstance(item, Markup) for item in items):
        raise TypeError("join(): every part must be escaped Markup (from say() or a formatter)")
    return Prose(separator.join(items))


def plain_text(markdown: str) -> str:
    """What a reader sees of ``markdown`` (tags dropped, references decoded): for the index and
    the page title, which escape it again where they show it."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    parser = _TextOnly()
    parser.feed(markdown2html_mistune(str(markdown)))
    parser.close()
    return " ".join("".join(parser.parts).split())


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
