"""Cross-trace results stored at write time: the message fates, the traces that belong to
another trace's order, and what each order adds past its entry trace's answer.

They depend on many traces at once (a message sent in one trace and taken in another, matched by
parent, link or message id), so no bucket of traces can compute them alone, and they were most
of what `bottlenecks`, `funnel` and `lost_messages` cost at query time (8 s of `bottlenecks` at 50
days). Each write (and ``tracekit upgrade``) computes them again over the whole dataset as it
will be once committed, by the views' own SQL reading the stored per-trace results, and stores
them in the same commit, replacing the previous ones; queries then read them. A dataset whose
manifest has none (written before they were stored, or by Spark) computes them at query time,
as does ``connect(live=True)``, and tests/test_per_trace_storage.py checks the two agree.

The recomputation reads every message of the dataset: at 50 days of the workshop, ~2.5 s a
write (docs/benchmarks.md "Scale").

>>> tables = compute_cross_trace(con)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

# In this order: each reads those before it (journey_late_charges reads message_waits, a view
# over messages, and trace_orders, over joined_traces).
CROSS_TRACE_VIEWS: tuple[str, ...] = ("messages", "joined_traces", "journey_late_charges")


def compute_cross_trace(con: duckdb.DuckDBPyConnection) -> dict[str, pa.Table]:
    """The rows of ``CROSS_TRACE_VIEWS`` on ``con`` (a connection whose per-trace views read the
    dataset to describe and whose cross-trace views compute from them). Each table, once
    computed, stands in for its view for those after it, so every message is matched once."""
    tables: dict[str, pa.Table] = {}
    for name in CROSS_TRACE_VIEWS:
        tables[name] = con.sql(f"SELECT * FROM {name}").to_arrow_table()
        con.register(f"computed_{name}", tables[name])
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM computed_{name}")
    return tables
