"""Per component, per time window: arrivals, service time, waits, concurrency, workers, utilization.

A component is a service whose workers do SERVER or CONSUMER spans. Its workers are counted as
the sum over its instances (``service.instance.id``) of the most spans seen open at once on that
instance, unless a workers file says otherwise. Utilization in a window is concurrency by
Little's law (busy worker-time over the window length) divided by the workers.

>>> con = tracekit.connect("data/demo")                     # doctest: +SKIP
>>> window_metrics(con, window_s=300).head()                # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import yaml

from tracekit.connect import connect
from tracekit.errors import UserError
from tracekit.sqlfiles import load_sql

DEFAULT_WINDOW_S = 300

Connectable = duckdb.DuckDBPyConnection | str | os.PathLike[str]


def as_connection(con_or_dataset: Connectable) -> duckdb.DuckDBPyConnection:
    """A connection as given, or ``tracekit.connect`` on a dataset path."""
    if isinstance(con_or_dataset, duckdb.DuckDBPyConnection):
        return con_or_dataset
    return connect(con_or_dataset)


def prepare_work(con: duckdb.DuckDBPyConnection, window_s: int = DEFAULT_WINDOW_S) -> None:
    """(Re)build the temp table ``capacity_work``: one row per server/consumer span."""
    if int(window_s) <= 0:
        raise UserError(f"window length must be a positive number of seconds, got {window_s}")
    con.execute(load_sql("capacity/spans.sql"))
    con.execute(load_sql("capacity/work_spans.sql"), {"window_s": int(window_s)})


def work_spans(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The work spans for the replay (call ``prepare_work`` first), in start order: service and
    operation (categorical), window_start, duration_us, gap_us and caller_row (the row of the
    calling work span, -1 for none)."""
    table = con.sql(load_sql("capacity/replay_rows.sql")).to_arrow_table()
    for name in ("service", "operation"):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pc.dictionary_encode(table[name]))
    # 64-bit keys straight from Arrow: through pandas a nullable column would become float
    keys = table["key"].to_numpy()
    has_caller = table["caller_key"].is_valid().to_numpy(zero_copy_only=False)
    callers = pc.fill_null(table["caller_key"], 0).to_numpy()
    frame = table.drop_columns(["key", "caller_key"]).to_pandas()
    order = np.lexsort((keys, frame["start_us"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    keys, has, callers = keys[order], has_caller[order], callers[order]
    # caller_key -> the row holding that key (a sorted search instead of a join)
    by_key = np.argsort(keys, kind="stable")
    sorted_keys = keys[by_key]
    wanted = callers[has]
    at = np.minimum(np.searchsorted(sorted_keys, wanted), max(len(keys) - 1, 0))
    found = sorted_keys[at] == wanted if len(keys) else np.zeros(0, dtype=bool)
    caller_row = np.full(len(frame), -1, dtype=np.int64)
    caller_row[np.flatnonzero(has)[found]] = by_key[at[found]]
    frame["caller_row"] = caller_row
    return frame


def instance_overlap(
    con: duckdb.DuckDBPyConnection, window_s: int = DEFAULT_WINDOW_S
) -> pd.DataFrame:
    """Most spans open at once per service, instance and window (from ``capacity_work``)."""
    return con.sql(load_sql("capacity/overlap.sql"), params={"window_s": int(window_s)}).df()


def estimate_workers(overlap: pd.DataFrame) -> dict[str, int]:
    """Workers per service: over its instances, the sum of each one's peak concurrency.

    >>> estimate_workers(pd.DataFrame({"service": ["a", "a", "a"], "instance": ["1", "1", "2"],
    ...                                "max_concurrency": [2, 3, 3]}))
    {'a': 6}
    """
    if overlap.empty:
        return {}
    per_instance = overlap.groupby(["service", "instance"])["max_concurrency"].max()
    return {str(k): int(v) for k, v in per_instance.groupby(level=0).sum().items()}


def window_metrics(
    con_or_dataset: Connectable,
    window_s: int = DEFAULT_WINDOW_S,
    workers: dict[str, int] | None = None,
) -> pd.DataFrame:
    """One row per service and window with arrivals, service/self time, waits, concurrency,
    the most spans open at once (summed over instances), workers and utilization.

    ``workers`` overrides the measured worker count of the services it names.
    """
    con = as_connection(con_or_dataset)
    prepare_work(con, window_s)
    return _window_table(con, window_s, workers)


def _window_table(
    con: duckdb.DuckDBPyConnection, window_s: int, workers: dict[str, int] | None
) -> pd.DataFrame:
    frame = con.sql(load_sql("capacity/windows.sql"), params={"window_s": int(window_s)}).df()
    overlap = instance_overlap(con, window_s)
    measured = estimate_workers(overlap)
    chosen = {**measured, **(workers or {})}
    summed = overlap.groupby(["service", "window_start"])["max_concurrency"].sum()
    frame = frame.merge(
        summed.rename("max_overlap").reset_index(), on=["service", "window_start"], how="left"
    )
    frame["max_overlap"] = frame["max_overlap"].fillna(0).astype("int64")
    frame["workers"] = frame["service"].map(chosen).fillna(0).astype("int64")
    frame["workers_source"] = [
        "file" if workers and name in workers else "measured" for name in frame["service"]
    ]
    frame["utilization"] = frame["concurrency"] / frame["workers"].where(frame["workers"] > 0)
    return frame


def load_workers_file(path: str | os.PathLike[str]) -> dict[str, int]:
    """Worker counts from a YAML file: ``service: workers`` (optionally under ``workers:``).

    Raises UserError naming the file and key for anything else.

    >>> # workers.yaml:  workers: {mes: 8, mes-api: 4}
    """
    file = Path(path)
    try:
        data: Any = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise UserError(f"{file}: cannot read workers file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{file}: malformed YAML{where}") from exc
    if isinstance(data, dict) and set(data) == {"workers"}:
        data = data["workers"]
    if not isinstance(data, dict) or not data:
        raise UserError(
            f"{file}: expected a mapping of service name to worker count, e.g. `mes: 8`"
        )
    result: dict[str, int] = {}
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise UserError(f"{file}: {name}: workers must be a positive integer, got {value!r}")
        result[str(name)] = value
    return result
