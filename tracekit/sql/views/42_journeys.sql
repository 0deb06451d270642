-- Journeys: an order (or any request) followed across asynchronous hops, from its entry span to
-- the last consumer work its messages started, whether that work is in the same trace (the
-- consumer a child of the producer) or in traces of its own (linked, or matched by message id).
--
-- Cross-trace views (follow links and message ids between traces): joined_traces, trace_orders,
-- journeys.

-- joined_traces: the traces that belong to another trace's order. A trace whose spans link to
-- a span of another trace, or took a message sent in another trace (matched by link or message
-- id), belongs to that trace's order, followed transitively; order_id is the first trace's id.
-- Every other trace is an order's entry trace. Stored at write time (tracekit.cross_trace).
CREATE OR REPLACE VIEW joined_traces AS
WITH RECURSIVE
hops AS MATERIALIZED (
    SELECT trace_id, min(linked_trace_id) AS linked_trace_id
    FROM (
        SELECT trace_id, linked_trace_id
        FROM span_links
        UNION ALL
        SELECT consumer_trace_id, trace_id FROM message_matches
    )
    WHERE linked_trace_id <> trace_id
    GROUP BY trace_id
),
up(trace_id, order_id, depth) AS (
    SELECT trace_id, linked_trace_id, 1 FROM hops
    UNION ALL
    SELECT u.trace_id, h.linked_trace_id, u.depth + 1
    FROM up AS u
    JOIN hops AS h ON h.trace_id = u.order_id
    WHERE u.depth < 16  -- link cycles between traces end here
)
-- only the traces that hop to another recurse
SELECT trace_id, order_id
FROM (SELECT trace_id, arg_max(order_id, depth) AS order_id FROM up GROUP BY trace_id)
WHERE order_id <> trace_id;

-- trace_orders: the order (business transaction) each trace belongs to: its own, unless it is
-- one of joined_traces. One row per trace of `traces`.
CREATE OR REPLACE VIEW trace_orders AS
SELECT t.trace_id, coalesce(j.order_id, t.trace_id) AS order_id
FROM traces AS t
LEFT JOIN joined_traces AS j USING (trace_id);

-- journeys: one row per order: its traces, its entry span (the root of the order's first
-- trace, as in trace_roots), start_time and end_time over every span of the order (consumer
-- work included), duration_us (end to end, to the last consumer), entry_us (the entry span
-- alone, what its caller waited for), its messages by outcome (messages, messages_handled,
-- messages_failed, messages_lost, messages_lost_certain; see `messages`), consumer_services,
-- and outcome: 'failed' (the entry span failed, or a consumer failed to handle a message),
-- 'lost' (a message certainly lost), 'uncertain' (a message nothing shows taken: lost, or its
-- telemetry missing), else 'completed'.
CREATE OR REPLACE VIEW journeys AS
WITH spans AS (
    SELECT o.order_id, min(t.start_time) AS start_time, max(t.end_time) AS end_time,
           list_sort(list(t.trace_id)) AS trace_ids
    FROM traces AS t
    JOIN trace_orders AS o USING (trace_id)
    GROUP BY o.order_id
),
entries AS (
    SELECT r.trace_id AS order_id, r.span_id, r.service, r.operation, s.duration_us, r.failed
    FROM trace_roots AS r
    JOIN span_rows AS s USING (trace_id, span_id)
),
sent AS (
    SELECT o.order_id, count(*) AS messages,
           count(*) FILTER (WHERE m.outcome = 'handled') AS handled,
           count(*) FILTER (WHERE m.outcome = 'failed') AS failed,
           count(*) FILTER (WHERE m.outcome = 'lost') AS lost,
           count(*) FILTER (WHERE m.outcome = 'lost' AND m.reason <> 'not_seen') AS lost_certain,
           list_sort(list_distinct(list(m.consumer_service)
                                   FILTER (WHERE m.consumer_service IS NOT NULL)))
               AS consumer_services
    FROM messages AS m
    JOIN trace_orders AS o USING (trace_id)
    GROUP BY o.order_id
)
SELECT s.order_id, s.trace_ids, e.service AS entry_service, e.operation AS entry_operation,
       e.span_id AS entry_span_id, s.start_time, s.end_time,
       epoch_us(s.end_time) - epoch_us(s.start_time) AS duration_us, e.duration_us AS entry_us,
       coalesce(m.messages, 0) AS messages, coalesce(m.handled, 0) AS messages_handled,
       coalesce(m.failed, 0) AS messages_failed, coalesce(m.lost, 0) AS messages_lost,
       coalesce(m.lost_certain, 0) AS messages_lost_certain,
       coalesce(m.consumer_services, []) AS consumer_services,
       CASE WHEN e.failed OR m.failed > 0 THEN 'failed'
            WHEN m.lost_certain > 0 THEN 'lost'
            WHEN m.lost > 0 THEN 'uncertain'
            ELSE 'completed' END AS outcome
FROM spans AS s
JOIN entries AS e USING (order_id)
LEFT JOIN sent AS m USING (order_id);
