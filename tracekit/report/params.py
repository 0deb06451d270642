"""Report parameters: checked once, the same way, by the CLI before a run and by every notebook.

A notebook's first cell after ``parameters`` calls :func:`validate_params`; a wrong value stops
the notebook at once with one ``UserError`` line instead of a traceback three charts later.
The CLI calls it too (and :func:`coerce_param` for ``-p KEY VALUE`` text), so a typo never
starts a kernel.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tracekit.dataset import require_dataset
from tracekit.errors import UserError
from tracekit.limits import memory_limit_from_env
from tracekit.times import duration_seconds, utc_datetime

COMMON_PARAMS = ("dataset", "since", "start", "end", "services")

_SECRET_NAMES = re.compile(r"token|secret|password|passwd|api[_-]?key|credential", re.I)
# Bounds past which the window and forecast arithmetic overflows (datetime's years 1-9999;
# 1e308 as a multiplier or target): a century back, 1000x the load, a day's p95.
MAX_SINCE = timedelta(days=36_525)
MAX_MULTIPLIER = 1000.0
MAX_SLO_P95_MS = 86_400_000.0
# Known services named in an error, at most (a dataset may hold hundreds).
_SERVICES_SHOWN = 20


@dataclass(frozen=True)
class ReportParams:
    """The checked parameters of one report run.

    ``since`` is a window length counted back from the newest span; ``start``/``end`` are
    absolute UTC bounds (naive datetimes, like the dataset's timestamps). Both may be given:
    ``end`` then anchors ``since`` instead of the newest span.
    """

    dataset: Path
    since: timedelta | None = None
    start: datetime | None = None
    end: datetime | None = None
    services: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def connect(self) -> Any:
        """Open the report window on the dataset (:func:`tracekit.report.window.open_window`)."""
        from tracekit.report.window import open_window

        return open_window(self)


def parse_duration(text: str, *, name: str = "since") -> timedelta:
    """``"24h"`` -> ``timedelta(hours=24)``; units as in :func:`tracekit.times.duration_seconds`.

    >>> parse_duration("90m")
    datetime.timedelta(seconds=5400)
    """
    try:
        seconds = duration_seconds(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise UserError(
            f"parameter {name}: expected a positive duration like 30m, 24h or 7d, got {text!r}"
        )
    if not seconds <= MAX_SINCE.total_seconds():
        raise UserError(f"parameter {name}: {text!r} is longer than a century; give less")
    return timedelta(seconds=seconds)


def parse_time(text: str, *, name: str) -> datetime:
    """An ISO-8601 time as a naive UTC datetime (a time without offset is taken as UTC)."""
    try:
        return utc_datetime(text)
    except (ValueError, OverflowError):  # 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        raise UserError(
            f"parameter {name}: expected an ISO time like 2026-11-24T08:00:00Z, got {text!r}"
        ) from None


def validate_params(
    *,
    dataset: str | Path,
    since: str = "",
    start: str = "",
    end: str = "",
    services: list[str] | tuple[str, ...] | str = (),
    **specific: Any,
) -> ReportParams:
    """Check the common and notebook-specific parameters; raise one-line ``UserError`` if wrong.

    Known specific parameters: ``flow`` (name, YAML file or ``auto``), ``multipliers``
    (positive numbers), ``slo_p95_ms`` (> 0), ``replay_spans`` (a span count, 0 for the
    budget's), ``jaeger_ui_url`` (http(s) URL without credentials, or empty), and
    compare's ``before`` (a dataset folder, or empty for the same one) with
    ``before_start``/``before_end`` (ISO times, or empty).

    >>> p = validate_params(dataset="data/demo", since="24h")  # doctest: +SKIP
    >>> p.since
    datetime.timedelta(days=1)
    """
    if not str(dataset).strip():
        raise UserError("parameter dataset: empty; give the folder of a tracekit dataset")
    root = require_dataset(Path(dataset).expanduser())
    window = parse_duration(since) if str(since).strip() else None
    start_at = parse_time(start, name="start") if str(start).strip() else None
    end_at = parse_time(end, name="end") if str(end).strip() else None
    if start_at and end_at and start_at >= end_at:
        raise UserError(f"parameters start/end: start {start} is not before end {end}")
    if window is not None and start_at is not None:
        raise UserError("parameters since/start: give one of them, not both")
    names = _services(services)
    extra = {name: _check_specific(name, value) for name, value in specific.items()}
    before_start, before_end = extra.get("before_start"), extra.get("before_end")
    if before_start and before_end and before_start >= before_end:
        raise UserError(
            f"parameters before_start/before_end: {specific['before_start']} is not before "
            f"{specific['before_end']}"
        )
    memory_limit_from_env()  # tracekit.connect reads it (`tracekit report` sets it for kernels)
    if names:
        _check_services_known(root, names)
    return ReportParams(root, window, start_at, end_at, names, extra)


def _services(value: list[str] | tuple[str, ...] | str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise UserError(f"parameter services: expected a list of service names, got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


def _check_services_known(root: Path, names: tuple[str, ...]) -> None:
    """Every name in ``services`` is a service of the dataset: a typo would otherwise leave
    every report empty, and fail only in the kernel."""
    from tracekit.connect import connect

    con = connect(root)
    try:
        rows = con.execute("SELECT DISTINCT service FROM span_rows ORDER BY 1").fetchall()
    finally:
        con.close()
    known = [row[0] for row in rows if row[0] is not None]
    unknown = [name for name in names if name not in set(known)]
    if unknown:
        more = ", ..." if len(known) > _SERVICES_SHOWN else ""
        shown = ", ".join(known[:_SERVICES_SHOWN]) + more
        raise UserError(
            f"parameter services: {', '.join(repr(n) for n in unknown)} not in {root}; "
            f"its services: {shown or 'none'}"
        )


def check_multipliers(value: Any, *, name: str = "parameter multipliers") -> list[float]:
    """Load multipliers: positive, finite, at most MAX_MULTIPLIER; sorted, each once.

    >>> check_multipliers("5,1,2")
    [1.0, 2.0, 5.0]
    """
    items = value.split(",") if isinstance(value, str) else value
    try:
        numbers = [float(item) for item in items]
    except (TypeError, ValueError):
        numbers = []
    if not numbers or not all(0 < n <= MAX_MULTIPLIER for n in numbers):  # False for nan too
        raise UserError(
            f"{name}: expected positive numbers up to {MAX_MULTIPLIER:g} like [1, 2, 5], "
            f"got {value!r}"
        )
    return sorted(set(numbers))


def check_slo_p95_ms(value: Any, *, name: str = "parameter slo_p95_ms") -> float:
    """A p95 target in ms: positive, finite, at most a day."""
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    if not 0 < number <= MAX_SLO_P95_MS:  # False for nan too
        raise UserError(
            f"{name}: expected a positive number of milliseconds up to {MAX_SLO_P95_MS:g} "
            f"(a day), got {value!r}"
        )
    return float(number)


def _check_specific(name: str, value: Any) -> Any:
    if _SECRET_NAMES.search(name):
        raise UserError(
            f"parameter {name}: secrets are never report parameters (they would be stored in "
            "params.yaml and the report); pass them through environment variables"
        )
    if name == "multipliers":
        return check_multipliers(value)
    if name == "slo_p95_ms":
        return check_slo_p95_ms(value)
    if name == "jaeger_ui_url":
        return _check_url(value)
    if name == "replay_spans":  # capacity: the most spans the forecast replays (0: the budget's)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(
                f"parameter replay_spans: expected a whole number of spans (0 for what the "
                f"memory budget holds), got {value!r}"
            )
        return value
    if name == "before":  # compare: the dataset of the "before" window ("" = the same dataset)
        if not isinstance(value, str):
            raise UserError(f"parameter before: expected a dataset folder, got {value!r}")
        return require_dataset(Path(value.strip()).expanduser()) if value.strip() else None
    if name in ("before_start", "before_end"):  # compare: the "before" window's bounds
        if not isinstance(value, str):
            raise UserError(f"parameter {name}: expected an ISO time, got {value!r}")
        return parse_time(value, name=name) if value.strip() else None
    if name == "flow":
        if not isinstance(value, str) or not value.strip():
            raise UserError(f"parameter flow: expected a flow name or YAML file, got {value!r}")
        if value.strip() == "auto":  # derived from the data (tracekit.report.flow_choice)
            return "auto"
        from tracekit.analytics.funnel import load_flow

        try:
            load_flow(value.strip())
        except UserError as exc:
            raise UserError(f"parameter flow: {exc}") from None
        return value.strip()
    return value


def _check_url(value: Any) -> str:
    if not isinstance(value, str):
        raise UserError(f"parameter jaeger_ui_url: expected a URL, got {value!r}")
    if not value.strip():
        return ""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(
            f"parameter jaeger_ui_url: expected http(s)://host[:port][/path], got {value!r}"
        )
    if parts.username or parts.password or parts.query:
        raise UserError(
            "parameter jaeger_ui_url: must not carry credentials or a query string (reports "
            "are shared); give the plain UI address"
        )
    return value.strip().rstrip("/")


# Declared types as papermill.inspect_notebook reports them ("str", "float", "list", ...).
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}


def coerce_param(notebook: str, name: str, text: str, declared: str | None) -> Any:
    """Turn ``-p NAME TEXT`` into the notebook's declared type, or raise a one-line UserError.

    Lists take ``a,b,c`` or YAML ``[a, b]``; numbers and booleans are parsed; anything else
    (undeclared types) goes in as YAML.
    """
    where = f"report {notebook}: parameter {name}"
    try:
        if declared == "str" or declared is None and not text.strip():
            return text
        if declared == "list":
            if text.strip().startswith("["):
                value = yaml.safe_load(text)
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
                value = [_scalar(part) for part in value]
            if not isinstance(value, list):
                raise ValueError
            return value
        if declared == "int":
            return int(text)
        if declared == "float":
            return float(text)
        if declared == "bool":
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError
            return lowered in ("true", "yes", "1")
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        raise UserError(f"{where}: expected {declared}, got {text!r}") from None


def _scalar(text: str) -> Any:
    value = yaml.safe_load(text)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else text


def check_param_type(notebook: str, name: str, value: Any, declared: str | None) -> None:
    """Raise a one-line UserError when ``value`` does not fit the notebook's declared type."""
    allowed = _PY_TYPES.get(declared or "")
    if allowed is None:
        return
    if isinstance(value, bool) and declared in ("int", "float"):
        allowed = ()
    if not isinstance(value, allowed):
        raise UserError(
            f"report {notebook}: parameter {name}: expected {declared}, "
            f"got {type(value).__name__} {value!r}"
        )
