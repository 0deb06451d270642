"""Attribute values that come with slowness or with the worse of two windows, without the ones
that say nothing (the service's own name, values equal to it, differences within noise).

>>> telling(slow_attributes(con))  # doctest: +SKIP
>>> over_represented(before_shares, after_shares, before_traces, after_traces)  # doctest: +SKIP
"""

from __future__ import annotations

import duckdb
import pandas as pd

from tracekit.sqlfiles import load_sql

# Keys that name the service itself: "mes has resource.service.name=mes" is true of every span.
TAUTOLOGIES = frozenset({"resource.service.name", "service.name", "otel.scope.name"})
# Connection identities (ports, socket addresses) change with every restart: the HotROD capture
# with -M listened on other ports than the one without, which told nothing about the fix.
_ENDPOINT = r"(?:\.port|\.ip|\.sock\..*|^client\.address|^network\.peer\..*)$"
MIN_DIFFERENCE = 0.05  # five percentage points between the groups compared
MAX_VALUES = 50  # keys with more values in a service are ids, not causes


def telling(
    frame: pd.DataFrame, *, min_difference: float = MIN_DIFFERENCE, limit: int = 10
) -> pd.DataFrame:
    """The rows of a ``slow_attributes`` frame worth a reader's time, with a ``label``: no
    tautologies, a difference of at least ``min_difference``, largest first."""
    if frame.empty:
        return frame.assign(label=pd.Series(dtype=str))
    keep = (
        ~frame["key"].isin(TAUTOLOGIES)
        & ~frame["key"].str.contains(_ENDPOINT, regex=True)
        & (frame["value"].astype(str) != frame["service"].astype(str))
        & (frame["difference"] >= min_difference)
    )
    chosen = frame[keep].sort_values(
        ["difference", "service", "key"], ascending=[False, True, True]
    )
    chosen = chosen.head(limit).copy()
    chosen["label"] = chosen["service"] + ": " + chosen["key"] + "=" + chosen["value"].astype(str)
    return chosen.reset_index(drop=True)


def attribute_shares(
    con: duckdb.DuckDBPyConnection, *, max_values: int = MAX_VALUES
) -> pd.DataFrame:
    """Per service, key and value: the traces of the window carrying it (service, key, value,
    traces), tautologies and id-like keys left out."""
    return con.execute(load_sql("report/attribute_shares.sql"), {"max_values": max_values}).df()


def over_represented(
    worse: pd.DataFrame,
    better: pd.DataFrame,
    worse_traces: int,
    better_traces: int,
    *,
    min_difference: float = MIN_DIFFERENCE,
    limit: int = 10,
) -> pd.DataFrame:
    """Attribute values more common in the worse window than in the better one: service, key,
    value, worse_share, better_share, difference, label; largest difference first."""
    keys = ["service", "key", "value"]
    merged = worse.merge(better, on=keys, how="outer", suffixes=("_worse", "_better"))
    merged = merged.fillna({"traces_worse": 0, "traces_better": 0})
    merged["worse_share"] = merged["traces_worse"] / max(worse_traces, 1)
    merged["better_share"] = merged["traces_better"] / max(better_traces, 1)
    merged["difference"] = merged["worse_share"] - merged["better_share"]
    merged = merged[
        ~merged["key"].isin(TAUTOLOGIES)
        & ~merged["key"].str.contains(_ENDPOINT, regex=True)
        & (merged["difference"] >= min_difference)
    ]
    merged = merged.sort_values(["difference", "service", "key"], ascending=[False, True, True])
    merged = merged.head(limit).copy()
    merged["label"] = merged["service"] + ": " + merged["key"] + "=" + merged["value"].astype(str)
    columns = [*keys, "worse_share", "better_share", "difference", "label"]
    return merged[columns].reset_index(drop=True)
