-- Drops: where orders and messages get lost (business loss), kept apart from spans and roots
-- that never reached the trace store (telemetry loss).

-- message_producers: PRODUCER spans with their destination and message id (current and old
-- OpenTelemetry messaging attribute names).
CREATE OR REPLACE VIEW message_producers AS
SELECT trace_id, span_id, service, operation, start_time, end_time,
       conv_destination(attributes) AS destination,
       conv_message_id(attributes) AS message_id
FROM span_rows
WHERE kind = 'producer';

-- message_deliveries: evidence that a consumer took a producer's message: a span linking to the
-- producer span ('link'), a consumer (or another service's span) whose parent is the producer
-- ('parent'), or a consumer span carrying the same message id ('message_id').
CREATE OR REPLACE VIEW message_deliveries AS
SELECT p.trace_id, p.span_id, c.trace_id AS consumer_trace_id, c.span_id AS consumer_span_id,
       c.service AS consumer_service, 'link' AS matched_by
FROM (SELECT *, unnest(links) AS link FROM span_rows WHERE len(links) > 0) AS c
JOIN message_producers AS p ON p.trace_id = c.link.trace_id AND p.span_id = c.link.span_id
UNION ALL
SELECT p.trace_id, p.span_id, c.trace_id, c.span_id, c.service, 'parent'
FROM span_rows AS c
JOIN message_producers AS p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
WHERE c.kind = 'consumer' OR c.service IS DISTINCT FROM p.service
UNION ALL
SELECT p.trace_id, p.span_id, c.trace_id, c.span_id, c.service, 'message_id'
FROM span_rows AS c
JOIN message_producers AS p
  ON p.message_id = conv_message_id(c.attributes)
WHERE c.kind = 'consumer';

-- destination_consumers: which services consume each destination, learned from the deliveries.
CREATE OR REPLACE VIEW destination_consumers AS
SELECT DISTINCT p.destination, d.consumer_service AS service
FROM message_deliveries AS d
JOIN message_producers AS p USING (trace_id, span_id)
WHERE p.destination IS NOT NULL;

-- lost_messages: producer spans whose message no consumer ever took. A consumer span that was
-- itself lost as telemetry leaves its children as orphans in the producer's trace; an orphan of
-- a service consuming that destination, starting after the publish, is taken as delivery, so
-- telemetry loss does not show up as lost messages.
CREATE OR REPLACE VIEW lost_messages AS
SELECT p.trace_id, p.span_id, p.service, p.destination, p.message_id, p.start_time
FROM message_producers AS p
WHERE NOT EXISTS (
        SELECT 1 FROM message_deliveries AS d
        WHERE d.trace_id = p.trace_id AND d.span_id = p.span_id)
  AND NOT EXISTS (
        SELECT 1
        FROM span_rows AS o
        JOIN destination_consumers AS dc ON dc.service = o.service
        WHERE o.trace_id = p.trace_id AND dc.destination = p.destination
          AND o.start_time >= p.start_time AND o.parent_span_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM span_rows AS q
                          WHERE q.trace_id = o.trace_id AND q.span_id = o.parent_span_id))
ORDER BY p.start_time, p.trace_id, p.span_id;

-- telemetry_loss: spans whose parent never arrived ('orphan_span', missing_span_id names the
-- parent) and traces without a root span ('trace_without_root', span_id is the earliest orphan,
-- which stands in as root, as in trace_roots). Telemetry loss, not business loss: the work
-- happened, its record did not arrive. (Read from span_rows directly: one anti-join, so it
-- stays cheap on large datasets.)
CREATE OR REPLACE VIEW telemetry_loss AS
WITH orphans AS MATERIALIZED (
    SELECT s.trace_id, s.span_id, s.service, s.operation, s.parent_span_id, s.start_time
    FROM span_rows AS s
    WHERE s.parent_span_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM span_rows AS p
                      WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id)
),
rootless AS (
    SELECT * FROM orphans AS o
    WHERE NOT EXISTS (SELECT 1 FROM span_rows AS r
                      WHERE r.trace_id = o.trace_id AND r.parent_span_id IS NULL)
    QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY start_time, span_id) = 1
)
SELECT 'orphan_span' AS kind, trace_id, span_id, service, operation,
       parent_span_id AS missing_span_id, start_time
FROM orphans
UNION ALL
SELECT 'trace_without_root', trace_id, span_id, service, operation, parent_span_id, start_time
FROM rootless
ORDER BY start_time, trace_id, kind, span_id;

-- trace_orders: the order (business transaction) each trace belongs to. A trace whose spans
-- link to a span of another trace (an asynchronous consumer that started its own trace) belongs
-- to that trace's order, followed transitively; order_id is the first trace's id.
CREATE OR REPLACE VIEW trace_orders AS
WITH RECURSIVE
hops AS MATERIALIZED (
    SELECT trace_id, min(link.trace_id) AS linked_trace_id
    FROM (SELECT trace_id, unnest(links) AS link FROM span_rows WHERE len(links) > 0)
    WHERE link.trace_id <> trace_id
    GROUP BY trace_id
),
up(trace_id, order_id, depth) AS (
    SELECT DISTINCT trace_id, trace_id, 0 FROM span_rows
    UNION ALL
    SELECT u.trace_id, h.linked_trace_id, u.depth + 1
    FROM up AS u
    JOIN hops AS h ON h.trace_id = u.order_id
    WHERE u.depth < 16  -- link cycles between traces end here
)
SELECT trace_id, arg_max(order_id, depth) AS order_id
FROM up
GROUP BY trace_id;

-- funnel_steps(['shop-api', 'mes:POST /plan']): the parsed steps. A step names a service, a
-- service's operation (service:operation), or a message destination.
CREATE OR REPLACE MACRO funnel_steps(steps) AS TABLE
SELECT i::INTEGER AS step_no, steps[i] AS step,
       CASE WHEN contains(steps[i], ':') THEN steps[i][:strpos(steps[i], ':') - 1]
            ELSE steps[i] END AS service,
       CASE WHEN contains(steps[i], ':') THEN steps[i][strpos(steps[i], ':') + 1:] END
           AS operation,
       len(steps) AS steps
FROM range(1, len(steps) + 1) AS r(i);

-- funnel_orders(steps): one row per order that entered the first step. An order entered a step
-- when one of its spans belongs to the step, or a span handed the order to it: a client span
-- calling the step's service (peer.service, else server.address), or a producer span publishing
-- to a destination the step's service consumes (or that the step names). An order that got
-- further passed every earlier step, even when a span of it was lost as telemetry. It completed
-- the last step when a span of that step (not a hand-off) ended without error.
CREATE OR REPLACE MACRO funnel_orders(steps) AS TABLE
WITH st AS (SELECT * FROM funnel_steps(steps)),
evidence AS (
    SELECT s.trace_id, st.step_no, s.status IS DISTINCT FROM 'ERROR' AS completes
    FROM span_rows AS s
    JOIN st ON s.service = st.service AND (st.operation IS NULL OR s.operation = st.operation)
    UNION ALL
    SELECT s.trace_id, st.step_no, false
    FROM span_rows AS s
    JOIN st ON conv_peer(s.attributes) = st.service
           AND (st.operation IS NULL OR s.operation = st.operation)
    WHERE s.kind = 'client'
    UNION ALL
    SELECT p.trace_id, st.step_no, false
    FROM message_producers AS p
    JOIN st ON st.operation IS NULL AND st.service = p.destination
    UNION ALL
    SELECT p.trace_id, st.step_no, false
    FROM message_producers AS p
    JOIN destination_consumers AS dc USING (destination)
    JOIN st ON st.operation IS NULL AND st.service = dc.service
),
per_order AS (
    SELECT o.order_id,
           list_sort(list_distinct(list(e.trace_id))) AS trace_ids,
           max(e.step_no) AS furthest_step_no,
           bool_or(e.step_no = 1) AS entered,
           bool_or(e.step_no = n.steps AND e.completes) AS completed
    FROM evidence AS e
    JOIN trace_orders AS o USING (trace_id)
    CROSS JOIN (SELECT len(steps) AS steps) AS n
    GROUP BY o.order_id
)
SELECT p.order_id, p.trace_ids, p.furthest_step_no, f.step AS furthest_step, p.completed,
       CASE WHEN NOT p.completed THEN f.step END AS dropped_at
FROM per_order AS p
JOIN st AS f ON f.step_no = p.furthest_step_no
WHERE p.entered;

-- funnel(['internet-shop', 'shop-api', 'mes-api', 'mes', 'order-queue', 'crm']): per step, the
-- orders that entered it, continued (entered the next step; completed it, for the last),
-- dropped there, drop_rate = dropped / entered and up to 5 dropped orders' trace ids.
CREATE OR REPLACE MACRO funnel(steps) AS TABLE
WITH st AS (SELECT * FROM funnel_steps(steps)),
orders AS (SELECT * FROM funnel_orders(steps))
SELECT st.step_no, st.step, st.service, st.operation,
       count(o.order_id) AS entered,
       count(o.order_id) FILTER (WHERE o.furthest_step_no > st.step_no OR o.completed)
           AS continued,
       count(o.order_id) FILTER (WHERE o.furthest_step_no = st.step_no AND NOT o.completed)
           AS dropped,
       round(coalesce(dropped / nullif(entered, 0), 0), 6) AS drop_rate,
       coalesce(list(o.order_id ORDER BY o.order_id)
                    FILTER (WHERE o.furthest_step_no = st.step_no AND NOT o.completed)[:5],
                []) AS sample_trace_ids
FROM st
LEFT JOIN orders AS o ON o.furthest_step_no >= st.step_no
GROUP BY st.step_no, st.step, st.service, st.operation
ORDER BY st.step_no;
