"""Tables for readers: no pandas index, percentages as percentages, milliseconds rounded, counts
with separators, yes/no for booleans, and every text cell and header escaped (trace data)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from tracekit.report.escape import escape
from tracekit.report.prose import percent as as_percent
from tracekit.report.prose import times as as_times
from tracekit.report.prose import utilization as as_utilization


def _missing(value: Any) -> bool:
    return value is None or isinstance(value, float) and math.isnan(value) or value is pd.NA


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return _decimal(value)
    return escape(value)


def _decimal(value: Any) -> str:
    number = float(value)
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.2f}" if abs(number) < 100 else f"{number:,.0f}"


def _ms(value: Any) -> str:
    number = float(value)
    return f"{number:,.1f}" if abs(number) < 10 else f"{number:,.0f}"


def _guarded(format_value: Callable[[Any], str]) -> Callable[[Any], str]:
    def formatted(value: Any) -> str:
        if _missing(value):
            return "–"
        if isinstance(value, str):  # a text in a numeric column (e.g. "saturated")
            return escape(value)
        return format_value(value)

    return formatted


def show_table(
    frame: pd.DataFrame,
    *,
    percent: Iterable[str] = (),
    utilization: Iterable[str] = (),
    ms: Iterable[str] = (),
    decimals: Iterable[str] = (),
    times: Iterable[str] = (),
    labels: Mapping[str, str] | None = None,
) -> Any:
    """A pandas Styler of ``frame`` without its index: ``percent`` columns as 12.3%,
    ``utilization`` ones too but "saturated" from 1 on (``prose.utilization``), ``ms``
    columns as 1,234 (milliseconds), ``decimals`` with two places, ``times`` as 2.5x, integers
    with separators, booleans as yes/no, text escaped; ``labels`` renames headers for readers.

    >>> show_table(summary, percent=["error_rate"], ms=["p95_ms"])  # doctest: +SKIP
    """
    frame = frame.reset_index(drop=True)
    chosen: dict[str, Callable[[Any], str]] = {}
    chosen.update({column: as_percent for column in percent})
    chosen.update({column: as_utilization for column in utilization})
    chosen.update({column: _ms for column in ms})
    chosen.update({column: lambda v: f"{float(v):,.2f}" for column in decimals})
    chosen.update({column: as_times for column in times})
    styler = frame.style.hide(axis="index")
    for column in frame.columns:
        styler = styler.format(_guarded(chosen.get(column, _text)), subset=[column])
    text = [c for c in frame.columns if c not in chosen and frame[c].dtype == object]
    if text:  # names read from the left; numbers stay right-aligned to compare digits
        styler = styler.set_properties(subset=pd.Index(text), **{"text-align": "left"})
    names = {str(k): str(v) for k, v in (labels or {}).items()}
    return styler.format_index(lambda name: escape(names.get(str(name), name)), axis=1)


def prepare_jupysql() -> None:
    """Call before ``%load_ext sql``. JupySQL imports Spark Connect's DataFrame whenever PySpark
    is installed (tracekit's ``spark`` extra) and expects only ``ModuleNotFoundError``; without
    Spark Connect's own dependencies (grpcio) PySpark raises its ``PySparkImportError`` instead
    and the extension fails to load. Marking that module missing gives JupySQL what it expects
    (it then reports Spark Connect frames as unsupported, which tracekit never hands it)."""
    import sys
    import warnings

    with warnings.catch_warnings():  # PySpark's version checks warn into the report otherwise
        warnings.simplefilter("ignore")
        try:
            import pyspark.sql.connect.dataframe  # noqa: F401
        except ImportError:
            sys.modules["pyspark.sql.connect.dataframe"] = None  # type: ignore[assignment]


def show_sql_results(limit: int = 20) -> None:
    """Show JupySQL results (``%%sql`` cells) through :func:`show_table`, escaped.

    JupySQL's own HTML un-escapes every cell "to create clickable links", so a span name such
    as ``<img onerror=...>`` would become markup in the report; this replaces its HTML with ours
    (the first ``limit`` rows).
    """
    from IPython import get_ipython
    from sql.run.resultset import ResultSet

    shell = get_ipython()
    if shell is None:
        return
    shell.display_formatter.formatters["text/html"].for_type(
        ResultSet, lambda result: show_table(result.DataFrame().head(limit)).to_html()
    )
