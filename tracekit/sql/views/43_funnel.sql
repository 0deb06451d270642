-- Funnel: how far each order got along a flow of steps, where it stopped, and why, keeping
-- certain business loss (a step failed, a message certainly lost), uncertain loss (it stopped
-- with no evidence of either: lost, or its telemetry missing) and telemetry loss (a step it
-- passed left no record) apart.
--
-- A step is a service ('mes'), a service's operation ('mes:POST /production-orders') or a
-- message destination ('queue:orders'). Cross-trace macros (orders follow trace_orders and
-- messages across traces): funnel_presence, funnel_orders, funnel; funnel_steps only parses.

-- funnel_steps(['shop-api', 'mes:POST /plan', 'queue:orders']): the parsed steps.
CREATE OR REPLACE MACRO funnel_steps(steps) AS TABLE
SELECT i::INTEGER AS step_no, steps[i] AS step,
       CASE WHEN starts_with(steps[i], 'queue:') THEN NULL
            WHEN contains(steps[i], ':') THEN steps[i][:strpos(steps[i], ':') - 1]
            ELSE steps[i] END AS service,
       CASE WHEN NOT starts_with(steps[i], 'queue:') AND contains(steps[i], ':')
            THEN steps[i][strpos(steps[i], ':') + 1:] END AS operation,
       CASE WHEN starts_with(steps[i], 'queue:') THEN steps[i][7:] END AS destination,
       len(steps) AS steps
FROM range(1, len(steps) + 1) AS r(i);

-- funnel_presence(steps): the steps with `present`: the data has a span of the service (or
-- operation), a client span calling the service, or a message to or from the destination.
-- Steps absent before the first present one are the flow's uninstrumented front (the
-- architecture decision leaves internet-shop and shop-api dark): they are reported, and orders
-- enter at the first present step. Any other absent step is an error that names the services
-- and queues the data knows, so a typo does not turn into orders lost.
CREATE OR REPLACE MACRO funnel_presence(steps) AS TABLE
WITH st AS (SELECT * FROM funnel_steps(steps)),
services AS (
    SELECT DISTINCT service AS name FROM span_rows WHERE service IS NOT NULL
    UNION
    SELECT DISTINCT peer FROM span_outcomes WHERE peer IS NOT NULL
),
destinations AS (
    SELECT destination FROM message_producers WHERE destination IS NOT NULL
    UNION
    SELECT destination FROM consumer_spans WHERE destination IS NOT NULL
),
-- the operations of the services that operation steps name, aggregated first: an EXISTS over
-- every span built a hash table of all of them (1.3 GB and 2.7 s at 50 days)
operations AS MATERIALIZED (
    SELECT DISTINCT service, operation
    FROM span_rows
    WHERE service IN (SELECT service FROM st WHERE operation IS NOT NULL)
),
marked AS MATERIALIZED (
    SELECT st.*,
           CASE WHEN st.destination IS NOT NULL
                    THEN st.destination IN (SELECT destination FROM destinations)
                WHEN st.operation IS NOT NULL
                    THEN EXISTS (SELECT 1 FROM operations AS o
                                 WHERE o.service = st.service AND o.operation = st.operation)
                ELSE st.service IN (SELECT name FROM services) END AS present
    FROM st
),
verdict AS (
    SELECT min(step_no) FILTER (WHERE present) AS first_present,
           string_agg('''' || step || '''', ', ' ORDER BY step_no)
               FILTER (WHERE NOT present AND step_no > coalesce(
                   (SELECT min(step_no) FROM marked WHERE present), 0)) AS unknown,
           (SELECT count(*) FROM services) AS known
    FROM marked
)
SELECT m.step_no, m.step, m.service, m.operation, m.destination, m.steps, m.present
FROM marked AS m, verdict AS v
WHERE CASE WHEN v.known > 0 AND (v.first_present IS NULL OR v.unknown IS NOT NULL)
           THEN error('funnel: '
                      || CASE WHEN v.first_present IS NULL
                              THEN 'no step of the flow matches anything in the data'
                              ELSE 'step ' || v.unknown || ' matches nothing in the data' END
                      || ' (services: '
                      || (SELECT string_agg(name, ', ' ORDER BY name) FROM services)
                      || '; queues: '
                      || coalesce((SELECT string_agg('queue:' || destination, ', '
                                                     ORDER BY destination)
                                   FROM destinations), 'none')
                      || ')')
           ELSE true END;

-- funnel_orders(steps): one row per order (trace_orders) that entered the flow's first present
-- step. What shows an order reached a step, and how that went ('ok', 'failed', 'lost' or
-- 'uncertain'):
-- * its own spans (span_outcomes): an entry span of the step's service (entry_spans: a root, an
--   orphan, a span called from another service, a consumer), or any span of the named
--   operation; failed when its status is ERROR, its answer says so (HTTP >= 500) or, for a
--   consumer, its handling failed (consumer_spans.failed). When the order has own spans of the
--   step, the step went ok if one of them did not fail;
-- * else a client span calling the step's service (uninstrumented, as crm in the architecture
--   decision): the step went as its caller saw it;
-- * else a message to the step's destination, or, when no step names its destination, to a
--   destination the step's service consumes: ok when handled, failed when its handling failed,
--   lost when certainly lost, uncertain otherwise (see `messages`).
-- furthest_step is the last step the order reached (an order that got further passed every
-- earlier step even when a step left no record: steps_seen lists the steps with evidence).
-- outcome: 'completed' (the last step went ok); else the order stopped at dropped_at because
-- that step 'failed', its message was certainly 'lost', or it is 'uncertain': the step went ok
-- and nothing further shows (then a failed earlier step makes it 'failed', a certainly lost
-- message of the order 'lost'). certain: TRUE unless the outcome is uncertain.
CREATE OR REPLACE MACRO funnel_orders(steps) AS TABLE
WITH st AS MATERIALIZED (SELECT * FROM funnel_presence(steps)),
sent AS MATERIALIZED (
    SELECT trace_id, destination,
           CASE outcome WHEN 'handled' THEN 'ok' WHEN 'failed' THEN 'failed'
                ELSE CASE WHEN reason = 'not_seen' THEN 'uncertain' ELSE 'lost' END
           END AS outcome
    FROM messages
),
orders AS MATERIALIZED (SELECT trace_id, order_id FROM trace_orders),
takers AS MATERIALIZED (SELECT trace_id, span_id, failed FROM consumer_spans),
evidence AS (
    SELECT e.trace_id, st.step_no, 'own' AS source,
           CASE WHEN e.failed THEN 'failed' ELSE 'ok' END AS outcome
    FROM span_outcomes AS e
    JOIN st ON st.operation IS NULL AND st.service = e.service
    WHERE e.is_entry
    UNION ALL
    SELECT s.trace_id, st.step_no, 'own',
           CASE WHEN taker_failed(s.status, s.attributes, c.failed) THEN 'failed' ELSE 'ok' END
    FROM span_rows AS s
    JOIN st ON st.operation IS NOT NULL AND s.service = st.service
           AND s.operation = st.operation
    LEFT JOIN takers AS c ON c.trace_id = s.trace_id AND c.span_id = s.span_id
    UNION ALL
    SELECT s.trace_id, st.step_no, 'call', CASE WHEN s.call_failed THEN 'failed' ELSE 'ok' END
    FROM span_outcomes AS s
    JOIN st ON s.peer = st.service AND (st.operation IS NULL OR s.operation = st.operation)
    UNION ALL
    SELECT m.trace_id, st.step_no, 'message', m.outcome
    FROM sent AS m
    JOIN st ON st.destination = m.destination
    UNION ALL
    SELECT m.trace_id, st.step_no, 'message', m.outcome
    FROM sent AS m
    JOIN destination_consumers AS dc ON dc.destination = m.destination
    JOIN st ON st.operation IS NULL AND st.service = dc.service
    WHERE m.destination NOT IN (SELECT destination FROM st WHERE destination IS NOT NULL)
),
per_step AS (
    SELECT o.order_id, e.step_no,
           list_distinct(list(e.trace_id)) AS trace_ids,
           CASE WHEN bool_or(e.source = 'own')
                    THEN CASE WHEN bool_or(e.source = 'own' AND e.outcome = 'ok') THEN 'ok'
                              ELSE 'failed' END
                WHEN bool_or(e.outcome = 'ok') THEN 'ok'
                WHEN bool_or(e.outcome = 'failed') THEN 'failed'
                WHEN bool_or(e.outcome = 'lost') THEN 'lost'
                ELSE 'uncertain' END AS outcome
    FROM evidence AS e
    JOIN orders AS o USING (trace_id)
    GROUP BY o.order_id, e.step_no
),
per_order AS (
    SELECT order_id,
           list_sort(list_distinct(flatten(list(trace_ids)))) AS trace_ids,
           list_sort(list(step_no)) AS steps_seen,
           max(step_no) AS furthest_step_no,
           arg_max(outcome, step_no) AS furthest_outcome,
           bool_or(outcome = 'failed') AS any_failed
    FROM per_step
    GROUP BY order_id
    HAVING bool_or(step_no = (SELECT min(step_no) FROM st WHERE present))
),
lost_for_sure AS (
    SELECT DISTINCT o.order_id
    FROM sent AS m
    JOIN orders AS o USING (trace_id)
    WHERE m.outcome = 'lost'
),
judged AS (
    SELECT p.*,
           CASE WHEN p.furthest_step_no = (SELECT max(step_no) FROM st)
                     AND p.furthest_outcome = 'ok' THEN 'completed'
                WHEN p.furthest_outcome <> 'ok' THEN p.furthest_outcome
                WHEN p.any_failed THEN 'failed'
                WHEN p.order_id IN (SELECT order_id FROM lost_for_sure) THEN 'lost'
                ELSE 'uncertain' END AS outcome
    FROM per_order AS p
)
SELECT j.order_id, j.trace_ids, j.furthest_step_no, f.step AS furthest_step,
       j.outcome = 'completed' AS completed,
       CASE WHEN j.outcome <> 'completed' THEN f.step END AS dropped_at,
       j.outcome, j.outcome <> 'uncertain' AS certain, j.steps_seen
FROM judged AS j
JOIN st AS f ON f.step_no = j.furthest_step_no;

-- funnel(['internet-shop', 'shop-api', 'mes-api', 'mes', 'queue:orders', 'crm']): per step,
-- `present` (absent leading steps have NULL counts: nothing to count, not zero), the orders
-- that entered it (reached it or a later step), continued (reached a later step; completed,
-- for the last), dropped there = failed + lost (certain business loss) + uncertain, unseen (of
-- those that went further, how many left no record of this step: telemetry loss), drop_rate =
-- dropped / entered and up to 5 dropped orders' ids.
CREATE OR REPLACE MACRO funnel(steps) AS TABLE
WITH st AS MATERIALIZED (SELECT * FROM funnel_presence(steps)),
orders AS MATERIALIZED (SELECT * FROM funnel_orders(steps)),
counted AS (
    SELECT st.step_no, st.step, st.service, st.operation, st.destination, st.present,
           count(o.order_id) AS entered,
           count(o.order_id) FILTER (WHERE o.furthest_step_no > st.step_no OR o.completed)
               AS continued,
           count(o.order_id) FILTER (WHERE o.furthest_step_no = st.step_no AND NOT o.completed)
               AS dropped,
           count(o.order_id) FILTER (WHERE o.furthest_step_no = st.step_no
                                       AND o.outcome = 'failed') AS failed,
           count(o.order_id) FILTER (WHERE o.furthest_step_no = st.step_no
                                       AND o.outcome = 'lost') AS lost,
           count(o.order_id) FILTER (WHERE o.furthest_step_no = st.step_no
                                       AND o.outcome = 'uncertain') AS uncertain,
           count(o.order_id) FILTER (WHERE o.furthest_step_no > st.step_no
                                       AND NOT list_contains(o.steps_seen, st.step_no))
               AS unseen,
           coalesce(list(o.order_id ORDER BY o.order_id)
                        FILTER (WHERE o.furthest_step_no = st.step_no AND NOT o.completed)[:5],
                    []) AS sample_trace_ids
    FROM st
    LEFT JOIN orders AS o ON st.present AND o.furthest_step_no >= st.step_no
    GROUP BY st.step_no, st.step, st.service, st.operation, st.destination, st.present
)
SELECT step_no, step, service, operation, destination, present,
       CASE WHEN present THEN entered END AS entered,
       CASE WHEN present THEN continued END AS continued,
       CASE WHEN present THEN dropped END AS dropped,
       CASE WHEN present THEN failed END AS failed,
       CASE WHEN present THEN lost END AS lost,
       CASE WHEN present THEN uncertain END AS uncertain,
       CASE WHEN present THEN unseen END AS unseen,
       CASE WHEN present THEN round(coalesce(dropped / nullif(entered, 0), 0), 6) END
           AS drop_rate,
       sample_trace_ids
FROM counted
ORDER BY step_no;
