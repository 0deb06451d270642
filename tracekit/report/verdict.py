"""The answer a report opens with: a headline, a few lines of evidence, one action, and the key
figures the index compares from run to run.

A notebook builds a :class:`Verdict` from numbers it computed (sentences made with
:func:`tracekit.report.prose.say`, so values are escaped) and shows it with :func:`show_verdict`,
which also records it as findings: the runner copies the headline and figures into ``run.json``
and the index shows them next to the run, with the change since the previous run.

>>> from tracekit.report.prose import say
>>> v = Verdict(say("**mes** is saturated"), [say("wait share {w}", w=percent(0.39))],
...             say("add mes workers"), [Figure("wait_share:mes", "mes wait share", 0.39,
...             "percent")])
>>> show_verdict(v)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tracekit.report.escape import Markup
from tracekit.report.findings import record_findings
from tracekit.report.prose import (
    Prose,
    change,
    duration,
    number,
    percent,
    plain_text,
    points,
    times,
    utilization,
)

Kind = Literal["percent", "utilization", "count", "ms", "times", "number"]
Tone = Literal["alarm", "calm", "neutral"]


@dataclass(frozen=True)
class Figure:
    """One key number of a run. ``key`` names it across runs (``"cp_share:mes"``), ``label``
    says it to a reader, ``kind`` says how to print it and its change."""

    key: str
    label: str
    value: float | None
    kind: Kind = "number"

    def shown(self) -> Markup:
        return format_figure(self.kind, self.value)


@dataclass
class Verdict:
    """A report's answer: ``headline`` (one line), ``lines`` (the evidence, 1-3), ``action``.

    ``tone`` colours the box: ``alarm`` for something to fix now, ``calm`` when all is well.
    """

    headline: Prose
    lines: list[Prose]
    action: Prose
    figures: list[Figure] = field(default_factory=list)
    tone: Tone = "neutral"

    def markdown(self) -> str:
        lines = "\n".join(f"- {line}" for line in self.lines)
        return f"#### {self.headline}\n\n{lines}\n\n**Action:** {self.action}\n"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def _repr_html_(self) -> str:
        lines = "".join(f"<p>{_inline(line)}</p>" for line in self.lines)
        tone = f" tk-{self.tone}" if self.tone != "neutral" else ""
        return (
            f'<div class="tk-verdict{tone}">'
            f'<p class="tk-headline">{_inline(self.headline)}</p>{lines}'
            f'<p class="tk-action"><b>Action:</b> {_inline(self.action)}</p></div>'
        )

    def findings(self) -> dict[str, Any]:
        """The verdict as findings: plain-text headline and action, and the figures."""
        return {
            "headline": plain_text(self.headline),
            "action": plain_text(self.action),
            "figures": [asdict(f) for f in self.figures if _finite(f.value)],
        }


def _inline(markdown: str) -> str:
    """Markdown (already escaped) as inline HTML: the renderer's paragraph tags dropped."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    html = markdown2html_mistune(str(markdown)).strip()
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return html


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(float(value))


def show_verdict(verdict: Verdict, **extra_findings: Any) -> None:
    """Display ``verdict`` (HTML in the page, Markdown in JupyterLab) and record it, with any
    ``extra_findings``, for the runner, the index and tests."""
    from IPython.display import display

    display(verdict)
    record_findings(**verdict.findings(), **extra_findings)


def format_figure(kind: str, value: float | None) -> Markup:
    """A figure's value as a reader expects it for its kind."""
    if not _finite(value):
        return Markup("–")
    assert value is not None
    if kind == "percent":
        return percent(value)
    if kind == "utilization":
        return utilization(value)
    if kind == "count":
        return number(int(round(float(value))))
    if kind == "ms":
        return duration(value)
    if kind == "times":
        return times(value)
    return number(value)


def format_change(kind: str, before: float | None, after: float | None) -> Markup:
    """How a figure moved between two runs: points for shares, a signed difference for counts,
    a relative change for durations and other numbers; empty when either is missing."""
    if not (_finite(before) and _finite(after)):
        return Markup("")
    assert before is not None and after is not None
    if float(before) == float(after):
        return Markup("unchanged")
    if kind in ("percent", "utilization"):
        return points(float(after) - float(before))
    if kind == "count":
        delta = int(round(float(after) - float(before)))
        return Markup(f"{'+' if delta > 0 else '−'}{abs(delta):,}")
    return change(before, after)
