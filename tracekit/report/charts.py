"""Chart helpers for the report notebooks: one function per kind of chart the reports draw.

Every report draws a kind of chart the same way: time axes in UTC on a 24-hour clock, shares as
percentages, colour scales with fixed meanings (a 0.2% drop rate is not painted deep red because
it happens to be the largest), and a sentence instead of an empty chart. Values reach the charts
only as data, never inside Vega expressions, so no text from the traces is ever evaluated.

The renderer that makes the charts draw offline is :mod:`tracekit.report.vega`; its
``enable_offline_charts`` is re-exported here for the notebooks' first cell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from tracekit.report.prose import Prose, names, say
from tracekit.report.service_map import ServiceMap
from tracekit.report.vega import enable_offline_charts, render

__all__ = [
    "bars_over_time",
    "chart_problems",
    "enable_offline_charts",
    "lines_over_time",
    "multiplier_lines",
    "paired_bars",
    "rate_class",
    "ranked_bars",
    "render",
    "service_map_chart",
    "utc",
    "waterfall_chart",
]

WIDTH = 680
# A line per series holds at most this many points: 680 px wide, more would not be seen.
LINE_POINTS = 1500
TIME_FORMAT = "%Y-%m-%d %H:%M"
# Error and drop rates in classes with fixed colours: the same rate always looks the same.
RATE_CLASSES = ("none", "under 1%", "1–5%", "5–20%", "20% or more")
RATE_COLOURS = ("#b8c2cc", "#7f8fa6", "#f2a541", "#e8590c", "#b3001b")
SERIES_COLOURS = ("#1f5fa8", "#f08c2e", "#2b9348", "#9d4edd", "#c9184a", "#6c757d")

Chart = alt.Chart | alt.LayerChart | alt.HConcatChart | alt.VConcatChart | alt.FacetChart


def utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """A copy with ``columns`` (naive UTC timestamps, as the views store them) as ISO texts
    ending in ``Z``, so every browser reads them as UTC whatever its own time zone, and a
    ``COLUMN_label`` text of each for tooltips (``2026-01-05 17:00``)."""
    copy = frame.copy()
    for column in columns:
        times = pd.to_datetime(copy[column])
        copy[column] = times.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        copy[f"{column}_label"] = times.dt.strftime(TIME_FORMAT)
    return copy


def time_x(field: str, *, days: bool = False, title: str = "time (UTC)") -> alt.X:
    """A UTC time axis on a 24-hour clock (with the date when the window spans days). A ``utc``
    scale formats its labels in UTC in every browser (checked with the browser in UTC+5:30)."""
    return alt.X(
        f"{field}:T",
        title=title,
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(format="%m-%d %H:%M" if days else "%H:%M"),
    )


def time_tooltip(field: str, title: str = "from (UTC)") -> alt.Tooltip:
    """The tooltip of a time made by :func:`utc` (its text label, so no browser time zone)."""
    return alt.Tooltip(f"{field}_label:N", title=title)


def rate_class(rate: float | None) -> str:
    """The class of an error or drop rate, for colour scales with fixed meanings."""
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return RATE_CLASSES[0]
    for limit, name in zip((0.01, 0.05, 0.2), RATE_CLASSES[1:4], strict=True):
        if rate < limit:
            return name
    return RATE_CLASSES[4]


def _rate_colour(title: str) -> alt.Scale:
    del title
    return alt.Scale(domain=list(RATE_CLASSES), range=list(RATE_COLOURS))


def _empty(frame: pd.DataFrame, empty: str) -> Prose | None:
    return say(empty) if frame.empty else None


def paired_bars(
    frame: pd.DataFrame,
    *,
    label: str,
    values: Mapping[str, str],
    title: str,
    x_title: str,
    y_title: str,
    empty: str,
    percent: bool = True,
    tooltip: Sequence[alt.Tooltip] = (),
) -> Chart | Prose:
    """Horizontal bars, two or more per row (``values``: column -> legend name), rows in the
    frame's order: all vs slow traces, before vs after, slow vs other traces."""
    if (nothing := _empty(frame, empty)) is not None:
        return nothing
    order = list(frame[label])
    # Names of our own for the long form: a frame may have columns called "value" or "series"
    # (an attribute's value), which melt would refuse.
    long = frame.melt(
        id_vars=[label], value_vars=list(values), var_name="tk_series", value_name="tk_value"
    )
    long["tk_series"] = long["tk_series"].map(dict(values))
    number_format = ".1%" if percent else ",.1f"
    return (
        alt.Chart(long, title=title)
        .mark_bar()
        .encode(
            x=alt.X(
                "tk_value:Q",
                title=x_title,
                axis=alt.Axis(format="%" if percent else ",~f"),
            ),
            y=alt.Y(f"{label}:N", title=y_title, sort=order, axis=alt.Axis(labelLimit=380)),
            yOffset=alt.YOffset("tk_series:N", sort=list(values.values())),
            color=alt.Color(
                "tk_series:N",
                title=None,
                sort=list(values.values()),
                scale=alt.Scale(
                    domain=list(values.values()), range=list(SERIES_COLOURS[: len(values)])
                ),
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip(f"{label}:N", title=y_title),
                alt.Tooltip("tk_series:N", title="which"),
                alt.Tooltip("tk_value:Q", title=x_title, format=number_format),
                *tooltip,
            ],
        )
        .properties(width=WIDTH - 160)
    )


def ranked_bars(
    frame: pd.DataFrame,
    *,
    label: str,
    value: str,
    title: str,
    x_title: str,
    y_title: str,
    empty: str,
    tooltip: Sequence[alt.Tooltip] = (),
    color: alt.Color | None = None,
    percent: bool = False,
) -> Chart | Prose:
    """One horizontal bar per row, largest first."""
    if (nothing := _empty(frame, empty)) is not None:
        return nothing
    encoding: dict[str, Any] = {
        "x": alt.X(
            f"{value}:Q",
            title=x_title,
            axis=_count_axis(frame[value]) if not percent else alt.Axis(format="%"),
        ),
        "y": alt.Y(f"{label}:N", title=y_title, sort="-x", axis=alt.Axis(labelLimit=380)),
        "tooltip": [
            alt.Tooltip(f"{label}:N", title=y_title),
            alt.Tooltip(f"{value}:Q", title=x_title, format=".1%" if percent else ",~f"),
            *tooltip,
        ],
    }
    if color is not None:
        encoding["color"] = color
    return alt.Chart(frame, title=title).mark_bar().encode(**encoding).properties(width=WIDTH - 200)


def _count_axis(values: pd.Series) -> alt.Axis:
    """An axis of whole counts: no 0.5 ticks when the largest count is small."""
    largest = float(values.max()) if len(values) else 0.0
    if 0 < largest < 8:
        return alt.Axis(format=",d", values=list(range(int(largest) + 1)))
    return alt.Axis(format=",d", tickMinStep=1)


def rate_colour(field: str, title: str) -> alt.Color:
    """Colour by a rate class column (see :func:`rate_class`), fixed colours per class."""
    return alt.Color(f"{field}:N", title=title, scale=_rate_colour(title), sort=list(RATE_CLASSES))


def lines_over_time(
    frame: pd.DataFrame,
    *,
    time: str,
    value: str,
    series: str,
    title: str,
    y_title: str,
    series_title: str,
    empty: str,
    days: bool = False,
    percent: bool = False,
    log: bool = False,
    value_format: str = ",.0f",
    limit: float | None = None,
    limit_title: str = "",
    tooltip: Sequence[alt.Tooltip] = (),
) -> Chart | Prose:
    """One line per ``series`` over UTC time, optionally with a dashed limit line. A series of
    more than ``LINE_POINTS`` points (months of 5-minute windows) is drawn by the busiest point
    of every run of consecutive ones, and the title says so: a peak is what a reader looks for,
    and a browser does not draw 100,000 points."""
    if (nothing := _empty(frame, empty)) is not None:
        return nothing
    frame, every = busiest_points(frame, time=time, value=value, series=series)
    if every > 1:
        title = f"{title}; the busiest of every {every} shown"
    data = utc(frame, time)
    y_scale = alt.Scale(type="log") if log else alt.Scale(zero=True)
    lines = (
        alt.Chart(data)
        .mark_line(point=alt.OverlayMarkDef(size=14))
        .encode(
            x=time_x(time, days=days),
            y=alt.Y(
                f"{value}:Q",
                title=y_title,
                scale=y_scale,
                axis=alt.Axis(format="%" if percent else ",~r"),
            ),
            color=alt.Color(f"{series}:N", title=series_title),
            tooltip=[
                alt.Tooltip(f"{series}:N", title=series_title),
                time_tooltip(time),
                alt.Tooltip(f"{value}:Q", title=y_title, format=".1%" if percent else value_format),
                *tooltip,
            ],
        )
    )
    layers: list[Any] = [lines]
    if limit is not None:
        rule = pd.DataFrame({"limit": [limit], "what": [limit_title]})
        layers.append(
            alt.Chart(rule)
            .mark_rule(color="#c0392b", strokeDash=[5, 4])
            .encode(
                y=alt.Y("limit:Q", title=y_title),
                tooltip=[
                    alt.Tooltip("what:N", title="line"),
                    alt.Tooltip("limit:Q", title="value"),
                ],
            )
        )
    return alt.layer(*layers, title=title).properties(width=WIDTH, height=250)


def busiest_points(
    frame: pd.DataFrame, *, time: str, value: str, series: str, points: int | None = None
) -> tuple[pd.DataFrame, int]:
    """``frame`` with at most ``points`` (default ``LINE_POINTS``) rows per ``series``: of every
    run of ``every`` consecutive rows (in time order) the one with the largest ``value``; and
    ``every`` (1 when nothing was left out).

    >>> f = pd.DataFrame({"t": range(6), "v": [1, 5, 2, 2, 9, 0], "s": "a"})
    >>> thinned, every = busiest_points(f, time="t", value="v", series="s", points=3)
    >>> list(thinned["v"]), every
    ([5, 2, 9], 2)
    """
    limit = points or LINE_POINTS
    longest = int(frame.groupby(series, dropna=False).size().max())
    if longest <= limit:
        return frame, 1
    every = math.ceil(longest / limit)
    ordered = frame.sort_values([series, time], kind="stable").reset_index(drop=True)
    run = ordered.groupby(series, dropna=False).cumcount() // every
    best = ordered[value].astype(float).fillna(-math.inf)
    keep = best.groupby([ordered[series], run], dropna=False).idxmax()
    return ordered.loc[sorted(keep)].reset_index(drop=True), every


def bars_over_time(
    frame: pd.DataFrame,
    *,
    time: str,
    end: str,
    value: str,
    series: str,
    title: str,
    y_title: str,
    series_title: str,
    empty: str,
    days: bool = False,
    colours: Sequence[str] | None = None,
) -> Chart | Prose:
    """Stacked bars per time bucket (``time`` to ``end``), one colour per ``series``."""
    if (nothing := _empty(frame, empty)) is not None:
        return nothing
    data = utc(frame, time, end)
    colour = alt.Color(f"{series}:N", title=series_title)
    if colours:
        colour = alt.Color(
            f"{series}:N",
            title=series_title,
            scale=alt.Scale(range=list(colours)),
        )
    return (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            x=time_x(time, days=days),
            x2=f"{end}:T",
            y=alt.Y(f"sum({value}):Q", title=y_title, axis=alt.Axis(tickMinStep=1, format=",d")),
            color=colour,
            tooltip=[
                time_tooltip(time),
                alt.Tooltip(f"{series}:N", title=series_title),
                alt.Tooltip(f"sum({value}):Q", title=y_title, format=",d"),
            ],
        )
        .properties(width=WIDTH, height=200)
    )


def multiplier_lines(
    frame: pd.DataFrame,
    *,
    value: str,
    title: str,
    y_title: str,
    empty: str,
    cap: float,
    percent: bool = False,
    log: bool = False,
    limit: float | None = None,
    limit_title: str = "",
    missing: str = "Not drawn (no value known): {names}.",
) -> Chart | Prose:
    """One line per component over the load multipliers. A saturated point (flagged
    ``saturated``, infinite, or beyond ``cap``) is drawn at ``cap`` with a red cross, so lines
    go on to the last multiplier instead of stopping where the component saturates. A point
    with no value that is not saturated (a utilization of unknown workers) is left out; the
    components left out entirely are named under the title by ``missing``."""
    if (nothing := _empty(frame, empty)) is not None:
        return nothing
    data = frame[["service", "multiplier", value, "saturated"]].copy()
    numbers = pd.to_numeric(data[value], errors="coerce").astype(float)
    saturated = data["saturated"].fillna(False).astype(bool)
    unknown = numbers.isna() & ~saturated
    left_out = sorted(set(data.loc[unknown, "service"]) - set(data.loc[~unknown, "service"]))
    data, numbers, saturated = data[~unknown], numbers[~unknown], saturated[~unknown]
    if data.empty:
        return say(missing, names=names(left_out, as_code=False))
    # chart text is text, never markup: the names go in as they are
    note = missing.format(names=", ".join(left_out)) if left_out else ""
    over = saturated | np.isinf(numbers) | (numbers > cap)
    data["shown"] = numbers.where(~over, cap)
    data["state"] = ["saturated" if o else "ok" for o in over]
    data["value_text"] = [
        "saturated" if o else (f"{float(v):.1%}" if percent else f"{float(v):,.0f}")
        for o, v in zip(over, data[value], strict=True)
    ]
    x = alt.X(
        "multiplier:Q",
        title="load multiplier (× today's load)",
        scale=alt.Scale(type="log"),
        axis=alt.Axis(values=sorted(data["multiplier"].unique().tolist()), format="~g"),
    )
    y_scale = alt.Scale(type="log") if log else alt.Scale(domain=[0, cap])
    y = alt.Y(
        "shown:Q", title=y_title, scale=y_scale, axis=alt.Axis(format="%" if percent else ",~r")
    )
    tooltip = [
        alt.Tooltip("service:N", title="component"),
        alt.Tooltip("multiplier:Q", title="load ×", format="~g"),
        alt.Tooltip("value_text:N", title=y_title),
    ]
    lines = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(x=x, y=y, color=alt.Color("service:N", title="component"), tooltip=tooltip)
    )
    crosses = (
        alt.Chart(data[data["state"] == "saturated"])
        .mark_point(shape="cross", size=140, color="#c0392b", filled=True, angle=45)
        .encode(x=x, y=y, tooltip=tooltip)
    )
    layers: list[Any] = [lines, crosses]
    if limit is not None:
        rule = pd.DataFrame({"limit": [limit], "what": [limit_title]})
        layers.append(
            alt.Chart(rule)
            .mark_rule(color="#c0392b", strokeDash=[5, 4])
            .encode(
                y=alt.Y("limit:Q", title=y_title),
                tooltip=[
                    alt.Tooltip("what:N", title="line"),
                    alt.Tooltip("limit:Q", title="value"),
                ],
            )
        )
    heading = alt.TitleParams(title, subtitle=[note]) if note else title
    return alt.layer(*layers, title=heading).properties(width=WIDTH - 120, height=260)


def service_map_chart(graph: ServiceMap, *, title: str, empty: str) -> Chart | Prose:
    """The dependency graph: services as circles (red ring: errors), calls as arrows whose
    width grows with the calls and whose colour is the error rate class; dashed: asynchronous
    (messages) or into a service that emits no spans."""
    if (nothing := _empty(graph.nodes, empty)) is not None:
        return nothing
    width, height = graph.width, graph.height
    x_scale = alt.Scale(domain=[0, width], nice=False, zero=False)
    y_scale = alt.Scale(domain=[0, height], nice=False, zero=False, reverse=True)
    edges = graph.edges.copy()
    edges["errors_class"] = [rate_class(r) for r in edges["error_rate"]]
    edges["line"] = [
        "untraced" if u else "message" if a else "call"
        for u, a in zip(edges["untraced"], edges["async"], strict=True)
    ]
    edges["label"] = [
        f"{calls:,} {'call' if calls == 1 else 'calls'}"
        + (f" · {rate:.1%} errors" if errors else "")
        for calls, errors, rate in zip(
            edges["calls"], edges["errors"], edges["error_rate"], strict=True
        )
    ]
    # Arrow heads sit on the edge just before the callee's circle, turned along the edge
    # (a triangle points up at angle 0; angles turn clockwise on screen, where y grows down).
    lengths = ((edges["x2"] - edges["x"]) ** 2 + (edges["y2"] - edges["y"]) ** 2) ** 0.5
    back = (30 / lengths.where(lengths > 0, 1)).clip(upper=0.5)
    edges["head_x"] = edges["x2"] - (edges["x2"] - edges["x"]) * back
    edges["head_y"] = edges["y2"] - (edges["y2"] - edges["y"]) * back
    edges["angle"] = [
        math.degrees(math.atan2(x2 - x, -(y2 - y))) % 360
        for x, y, x2, y2 in zip(edges["x"], edges["y"], edges["x2"], edges["y2"], strict=True)
    ]
    edges["mid_x"] = (edges["x"] + edges["x2"]) / 2
    edges["mid_y"] = (edges["y"] + edges["y2"]) / 2
    nodes = graph.nodes.copy()
    nodes["errors_class"] = [rate_class(r) for r in nodes["error_rate"]]
    nodes["kind"] = ["no spans" if u else "traced" for u in nodes["untraced"]]
    nodes["name"] = [
        f"{s} (no spans)" if u else s
        for s, u in zip(nodes["service"], nodes["untraced"], strict=True)
    ]
    edge_tooltip = [
        alt.Tooltip("caller:N", title="caller"),
        alt.Tooltip("callee:N", title="callee"),
        alt.Tooltip("calls:Q", title="calls", format=","),
        alt.Tooltip("errors:Q", title="errors", format=","),
        alt.Tooltip("error_rate:Q", title="error rate", format=".2%"),
        alt.Tooltip("p95_ms:Q", title="callee p95 (ms)", format=",.0f"),
        alt.Tooltip("line:N", title="kind"),
    ]
    x = alt.X("x:Q", title="calls flow left to right", scale=x_scale, axis=None)
    y = alt.Y("y:Q", title="service", scale=y_scale, axis=None)
    colour = alt.Color(
        "errors_class:N",
        title="error rate",
        scale=_rate_colour("error rate"),
        sort=list(RATE_CLASSES),
        legend=alt.Legend(orient="bottom"),
    )
    lines = (
        alt.Chart(edges)
        .mark_rule(opacity=0.85)
        .encode(
            x=x,
            y=y,
            x2="x2:Q",
            y2="y2:Q",
            color=colour,
            strokeWidth=alt.StrokeWidth(
                "calls:Q", scale=alt.Scale(type="log", range=[1.2, 6]), legend=None
            ),
            strokeDash=alt.StrokeDash(
                "line:N",
                scale=alt.Scale(
                    domain=["call", "message", "untraced"], range=[[1, 0], [6, 4], [2, 3]]
                ),
                legend=alt.Legend(title="edge", orient="bottom"),
            ),
            tooltip=edge_tooltip,
        )
    )
    heads = (
        alt.Chart(edges)
        .mark_point(shape="triangle-up", filled=True, size=110, opacity=1)
        .encode(
            x=alt.X("head_x:Q", title="calls flow left to right", scale=x_scale, axis=None),
            y=alt.Y("head_y:Q", title="service", scale=y_scale, axis=None),
            angle=alt.Angle("angle:Q", scale=None),
            color=colour,
            tooltip=edge_tooltip,
        )
    )
    labels = (
        alt.Chart(edges)
        .mark_text(fontSize=10, dy=-7, color="#333")
        .encode(
            x=alt.X("mid_x:Q", title="calls flow left to right", scale=x_scale, axis=None),
            y=alt.Y("mid_y:Q", title="service", scale=y_scale, axis=None),
            text="label:N",
            tooltip=edge_tooltip,
        )
    )
    node_tooltip = [
        alt.Tooltip("service:N", title="service"),
        alt.Tooltip("requests:Q", title="requests", format=","),
        alt.Tooltip("error_rate:Q", title="error rate", format=".2%"),
        alt.Tooltip("p95_ms:Q", title="p95 (ms)", format=",.0f"),
        alt.Tooltip("traces_started:Q", title="traces started here", format=","),
        alt.Tooltip("kind:N", title="telemetry"),
    ]
    circles = (
        alt.Chart(nodes)
        .mark_point(shape="circle", size=800, filled=True, fill="#eef3f9", opacity=1, strokeWidth=3)
        .encode(
            x=x,
            y=y,
            stroke=alt.Stroke(
                "errors_class:N",
                title="error rate",
                scale=_rate_colour("error rate"),
                sort=list(RATE_CLASSES),
                legend=None,
            ),
            tooltip=node_tooltip,
        )
    )
    names = (
        alt.Chart(nodes)
        .mark_text(fontSize=12, fontWeight="bold", dy=28, color="#111")
        .encode(x=x, y=y, text="name:N", tooltip=node_tooltip)
    )
    return (
        alt.layer(lines, heads, labels, circles, names, title=title)
        .properties(width=width, height=height)
        .configure_view(stroke=None)
    )


def waterfall_chart(
    spans: pd.DataFrame, segments: pd.DataFrame, *, title: str, empty: str
) -> Chart | Prose:
    """One trace as a waterfall: a bar per span (colour: service; pale: a call waiting on another
    service; red outline: error) on a time axis from the trace's start, with its critical path
    drawn as a black line through the bars that kept the request waiting."""
    if (nothing := _empty(spans, empty)) is not None:
        return nothing
    row = alt.Y("row:O", title="span", axis=None)
    height = max(18 * len(spans), 60)
    span_tooltip = [
        alt.Tooltip("service:N", title="service"),
        alt.Tooltip("operation:N", title="operation"),
        alt.Tooltip("kind:N", title="kind"),
        alt.Tooltip("start_ms:Q", title="starts at (ms)", format=",.1f"),
        alt.Tooltip("duration_ms:Q", title="duration (ms)", format=",.1f"),
        alt.Tooltip("critical_ms:Q", title="on the critical path (ms)", format=",.1f"),
        alt.Tooltip("status:N", title="status"),
        alt.Tooltip("status_message:N", title="status message"),
    ]
    data = spans.drop(columns=["start_time", "end_time"])
    data["is_call"] = data["kind"].isin(["client", "producer"])  # waiting on another service
    bars = (
        alt.Chart(data)
        .mark_bar(height=12, cornerRadius=2)
        .encode(
            x=alt.X(
                "start_ms:Q", title="time since the trace started (ms)", axis=alt.Axis(format=",~f")
            ),
            x2="end_ms:Q",
            y=row,
            color=alt.Color("service:N", title="service", legend=alt.Legend(orient="bottom")),
            opacity=alt.condition("datum.is_call", alt.value(0.45), alt.value(1.0)),
            stroke=alt.condition("datum.is_error", alt.value("#c0392b"), alt.value(None)),
            strokeWidth=alt.condition("datum.is_error", alt.value(2.5), alt.value(0)),
            tooltip=span_tooltip,
        )
    )
    path = (
        alt.Chart(segments.drop(columns=["start_time", "end_time"]))
        .mark_bar(height=3, color="#111")
        .encode(
            x=alt.X("start_ms:Q", title="time since the trace started (ms)"),
            x2="end_ms:Q",
            y=row,
            tooltip=[
                alt.Tooltip("start_ms:Q", title="critical from (ms)", format=",.1f"),
                alt.Tooltip("end_ms:Q", title="critical to (ms)", format=",.1f"),
            ],
        )
    )
    names = (
        alt.Chart(data)
        .mark_text(align="left", baseline="middle", fontSize=11, limit=330)
        .encode(
            x=alt.value(0),
            y=row,
            text="label:N",
            tooltip=span_tooltip,
        )
        .properties(width=340, height=height)
    )
    timeline = alt.layer(bars, path).properties(width=WIDTH - 330, height=height)
    return (
        alt.hconcat(names, timeline, spacing=4, title=title)
        .resolve_scale(y="shared")
        .configure_view(stroke=None)
    )


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
