"""Messages and journeys as DataFrames: each message's fate, how long messages wait in the
broker, and orders followed across asynchronous hops (docs/analytics.md "Messages",
"Journeys").

>>> con = tracekit.connect("data/demo")  # doctest: +SKIP
>>> message_wait_summary(con)[["destination", "p50_us", "p95_us"]]  # doctest: +SKIP
"""

from __future__ import annotations

import duckdb
import pandas as pd


def messages(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per message: trace_id, span_id, outer_span_id, service, operation, destination,
    message_id, sent_at, published_at, deliveries, outcome ('handled', 'failed', 'lost'), reason,
    and its first delivery (consumer_trace_id, consumer_span_id, consumer_service, matched_by,
    consumed_at, consumer_us)."""
    return con.sql("SELECT * FROM messages ORDER BY sent_at, trace_id, span_id").df()


def message_waits(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per message a consumer span took: trace_id, span_id, consumer_trace_id,
    consumer_span_id, destination, service, consumer_service, published_at, consumed_at,
    wait_us (producer end to consumer start), consumer_us."""
    return con.sql("SELECT * FROM message_waits ORDER BY published_at, trace_id, span_id").df()


def message_wait_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per destination and consumer service: messages, p50_us, p95_us, max_us of the wait in
    the broker, and p50_us/p95_us of the consumer's time (consumer_p50_us, consumer_p95_us);
    exact interpolated quantiles (quantile_cont)."""
    return con.sql(
        """
        SELECT destination, consumer_service, count(*) AS messages,
               quantile_cont(wait_us, 0.5) AS p50_us, quantile_cont(wait_us, 0.95) AS p95_us,
               max(wait_us) AS max_us,
               quantile_cont(consumer_us, 0.5) AS consumer_p50_us,
               quantile_cont(consumer_us, 0.95) AS consumer_p95_us
        FROM message_waits
        GROUP BY ALL
        ORDER BY p95_us DESC
        """
    ).df()


def journeys(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per order (or request) across async hops: order_id, trace_ids, entry_service,
    entry_operation, entry_span_id, start_time, end_time, duration_us (to the last consumer),
    entry_us, messages, messages_handled, messages_failed, messages_lost,
    messages_lost_certain, consumer_services, outcome ('completed', 'failed', 'lost',
    'uncertain')."""
    return con.sql("SELECT * FROM journeys ORDER BY start_time, order_id").df()
