"""``dataset_info``: what a dataset holds (spans, traces, services, time range, orphans)."""

from __future__ import annotations

import os
from typing import Any

from tracekit.connect import connect
from tracekit.dataset import open_dataset
from tracekit.sqlfiles import load_sql


def dataset_info(
    dataset: str | os.PathLike[str], *, memory_limit: str | None = None
) -> dict[str, Any]:
    """A summary of the dataset: totals, per-service counts and its manifest's sources.
    ``memory_limit`` caps DuckDB's memory (``tracekit.connect``'s).

    >>> dataset_info("data/sample")["totals"]["spans"]  # doctest: +SKIP
    '1520'
    """
    root, manifest = open_dataset(dataset)
    con = connect(root, memory_limit=memory_limit)
    try:
        totals = dict(con.execute(load_sql("info.sql")).fetchall())
        services = con.sql(load_sql("info_services.sql")).to_arrow_table()
    finally:
        con.close()
    return {
        "dataset": str(root),
        "schema_version": manifest.schema_version,
        "files": manifest.counts["files"],
        "totals": totals,
        "services": services,
        "sources": len(manifest.sources),
    }
