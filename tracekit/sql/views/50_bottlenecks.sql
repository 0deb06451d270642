-- Bottlenecks: who owns the critical path (docs/analytics.md "Bottlenecks"), per order across
-- asynchronous hops, from the charges of 45_charges.sql.
--
-- journey_charges (cross-trace): critical_path_charges per order (trace_orders), carried past
-- the entry trace across asynchronous hops. An order's entry trace answers its caller when its
-- root span ends, but the order is not done until the consumers of its messages are: when the
-- last of them ends after the root, the time from the root's end to that consumer's end is
-- added: to the sender while its send runs on past the root's end, then to the consumer: the
-- wait for it (from the later of the message's publication and the root's end, to the
-- consumer's start) as wait (is_wait: a consumer's backlog ranks the consumer, as waiting for a
-- busy worker pool ranks the callee), then its own work: the critical
-- path of its trace when it runs in a trace of its own (linked, or matched by message id),
-- clipped to after the root's end; else its span (a consumer under its producer in the entry
-- trace). trace_id is the order's id (its entry trace's). One hop: work that consumer starts
-- through further messages is not followed. Orders without messages: exactly their entry
-- trace's critical_path_charges.
-- journey_late_charges holds what is added past the root's end, journey_charges every segment,
-- journey_charge_totals the same time summed as trace_charges sums an entry trace's.
CREATE OR REPLACE VIEW journey_late_charges AS
WITH last_consumer AS MATERIALIZED (
    SELECT o.order_id,
           arg_max({'trace_id': w.consumer_trace_id, 'span_id': w.consumer_span_id,
                    'service': w.consumer_service, 'producer_trace_id': w.trace_id,
                    'producer_span_id': w.span_id, 'producer_service': w.service,
                    'published_at': w.published_at, 'consumed_at': w.consumed_at,
                    'ended_at': w.consumed_at + to_microseconds(w.consumer_us),
                    'operation': w.consumer_operation, 'producer_operation': w.operation},
                   w.consumed_at + to_microseconds(w.consumer_us)) AS c
    FROM message_waits AS w
    JOIN trace_orders AS o ON o.trace_id = w.trace_id
    GROUP BY o.order_id
),
-- when each order with messages answered its caller: its entry trace's last segment's end
answered AS MATERIALIZED (
    SELECT c.trace_id AS order_id, max(c.end_time) AS answered_at
    FROM trace_charges AS c
    SEMI JOIN last_consumer AS l ON l.order_id = c.trace_id
    GROUP BY c.trace_id
),
late AS MATERIALIZED (
    SELECT l.order_id, a.answered_at, l.c.trace_id AS consumer_trace_id,
           l.c.span_id AS consumer_span_id, l.c.service AS consumer_service,
           l.c.trace_id IS DISTINCT FROM l.c.producer_trace_id AS own_trace,
           l.c.producer_span_id, l.c.producer_service, l.c.producer_operation,
           l.c.published_at, greatest(l.c.published_at, a.answered_at) AS wait_from,
           l.c.consumed_at, l.c.ended_at, l.c.operation AS consumer_operation
    FROM last_consumer AS l
    JOIN answered AS a USING (order_id)
    WHERE l.c.ended_at > a.answered_at
),
sending AS (
    SELECT order_id AS trace_id, producer_span_id AS span_id,
           producer_service AS span_service, producer_operation AS span_operation,
           answered_at AS start_time,
           epoch_us(published_at) - epoch_us(answered_at) AS duration_us,
           producer_service AS service, producer_operation AS operation, false AS is_wait
    FROM late
    WHERE published_at > answered_at
),
waits AS (
    SELECT order_id AS trace_id, consumer_span_id AS span_id,
           consumer_service AS span_service, consumer_operation AS span_operation,
           wait_from AS start_time, epoch_us(consumed_at) - epoch_us(wait_from) AS duration_us,
           consumer_service AS service, consumer_operation AS operation, true AS is_wait
    FROM late
    WHERE consumed_at > wait_from
),
own_work AS (
    SELECT order_id AS trace_id, consumer_span_id AS span_id,
           consumer_service AS span_service, consumer_operation AS span_operation,
           greatest(consumed_at, answered_at) AS start_time,
           epoch_us(ended_at) - epoch_us(greatest(consumed_at, answered_at)) AS duration_us,
           consumer_service AS service, consumer_operation AS operation, false AS is_wait
    FROM late
    WHERE NOT own_trace
),
their_work AS (
    SELECT l.order_id AS trace_id, c.span_id, c.span_service, c.span_operation,
           greatest(c.start_time, l.consumed_at, l.answered_at) AS start_time,
           epoch_us(c.start_time + to_microseconds(c.duration_us))
               - epoch_us(greatest(c.start_time, l.consumed_at, l.answered_at)) AS duration_us,
           c.service, c.operation, c.is_wait
    FROM late AS l
    JOIN critical_path_charges AS c ON c.trace_id = l.consumer_trace_id
    WHERE l.own_trace
)
SELECT * FROM sending
UNION ALL SELECT * FROM waits
UNION ALL SELECT * FROM own_work WHERE duration_us > 0
UNION ALL SELECT * FROM their_work WHERE duration_us > 0;

CREATE OR REPLACE VIEW journey_charges AS
SELECT c.*
FROM critical_path_charges AS c
ANTI JOIN joined_traces AS j ON j.trace_id = c.trace_id
UNION ALL
SELECT * FROM journey_late_charges;

CREATE OR REPLACE VIEW journey_charge_totals AS
SELECT c.*
FROM trace_charges AS c
ANTI JOIN joined_traces AS j ON j.trace_id = c.trace_id
UNION ALL
SELECT trace_id, service, operation, is_wait, min(start_time),
       max(start_time + to_microseconds(duration_us)), sum(duration_us)::BIGINT
FROM journey_late_charges
GROUP BY ALL;

-- critical_path_traces: per trace, its critical-path length (the root's duration), its start,
-- and whether it is slow: at or above the 95th percentile of the traces started in the window.
-- `segments` names the table of critical-path segments to read: bottleneck_shares passes its
-- materialized charges (the same segments) so that the walk runs once.
CREATE OR REPLACE MACRO critical_path_traces(since := NULL, until := NULL,
                                             segments := 'critical_path') AS TABLE
WITH per_trace AS (
    SELECT *
    FROM (
        SELECT trace_id, min(start_time) AS start_time, sum(duration_us) AS duration_us
        FROM query_table(segments)
        GROUP BY trace_id
    )
    WHERE (since IS NULL OR start_time >= since) AND (until IS NULL OR start_time < until)
)
SELECT trace_id, start_time, duration_us,
       duration_us >= (SELECT quantile_cont(duration_us, 0.95) FROM per_trace) AS is_slow
FROM per_trace;

-- critical_path_by_operation(since, until): per span service and operation (no charging of
-- waits), the critical-path time, its share, the traces it is on and its mean per such trace.
CREATE OR REPLACE MACRO critical_path_by_operation(since := NULL, until := NULL) AS TABLE
SELECT cp.service, cp.operation, sum(cp.duration_us)::BIGINT AS cp_us,
       round(sum(cp.duration_us) / sum(sum(cp.duration_us)) OVER (), 6) AS cp_share,
       count(DISTINCT cp.trace_id) AS traces,
       round(sum(cp.duration_us) / count(DISTINCT cp.trace_id), 1) AS mean_us_per_trace
FROM critical_path AS cp
SEMI JOIN critical_path_traces(since := since, until := until) AS t
       ON t.trace_id = cp.trace_id
GROUP BY cp.service, cp.operation
ORDER BY cp_us DESC, cp.service, cp.operation;

-- bottleneck_shares(by_operation, since, until): the ranking behind `bottlenecks` (per service)
-- and `bottleneck_operations` (per service and operation), over orders (journey_charges: a
-- trace, carried across its messages' consumers; `traces` counts orders). rank 1 is the worst:
-- ordered by the share of critical-path time in slow orders (the tail users feel), then by the
-- share over all
-- traces. wait_share is the part of the group's critical-path time spent waiting for it
-- (queueing, network) rather than working; self_p95_us the 95th percentile of its spans' self
-- time (duration minus children) in the window.
CREATE OR REPLACE MACRO bottleneck_shares(by_operation := false, since := NULL, until := NULL)
AS TABLE
WITH charges AS MATERIALIZED (
    -- per order, across asynchronous hops, summed per group; read once (critical_path_traces()
    -- reads it too)
    SELECT * FROM journey_charge_totals
),
t AS MATERIALIZED (
    SELECT trace_id, is_slow
    FROM critical_path_traces(since := since, until := until, segments := 'charges')
),
charged AS (
    SELECT c.service, CASE WHEN by_operation THEN c.operation END AS operation, c.trace_id,
           c.duration_us, c.is_wait, t.is_slow
    FROM charges AS c
    JOIN t USING (trace_id)
),
totals AS (
    SELECT sum(duration_us) AS cp_us, sum(duration_us) FILTER (WHERE is_slow) AS slow_us
    FROM charged
),
groups AS (
    SELECT service, operation,
           sum(duration_us)::BIGINT AS cp_us,
           coalesce(sum(duration_us) FILTER (WHERE is_slow), 0)::BIGINT AS cp_slow_us,
           coalesce(sum(duration_us) FILTER (WHERE is_wait), 0)::BIGINT AS wait_us,
           count(DISTINCT trace_id) AS traces
    FROM charged
    GROUP BY ALL
),
self_time AS (
    SELECT s.service, CASE WHEN by_operation THEN s.operation END AS operation,
           quantile_cont(s.self_us, 0.95) AS self_p95_us
    FROM (
        -- without a window every order counts: every span (DuckDB drops the unused branch,
        -- which would look up the order of each span)
        SELECT service, operation, self_us FROM spans WHERE since IS NULL AND until IS NULL
        UNION ALL
        SELECT s.service, s.operation, s.self_us
        FROM spans AS s
        JOIN trace_orders AS o USING (trace_id)
        SEMI JOIN t ON t.trace_id = o.order_id
        WHERE since IS NOT NULL OR until IS NOT NULL
    ) AS s
    GROUP BY ALL
)
SELECT row_number() OVER (ORDER BY g.cp_slow_us / totals.slow_us DESC NULLS LAST,
                                   g.cp_us / totals.cp_us DESC, g.service, g.operation) AS rank,
       g.service, g.operation, g.traces, g.cp_us,
       round(g.cp_us / totals.cp_us, 6) AS cp_share,
       round(g.cp_slow_us / totals.slow_us, 6) AS cp_share_slow,
       g.wait_us,
       round(g.wait_us / g.cp_us, 6) AS wait_share,
       round(s.self_p95_us, 1) AS self_p95_us
FROM groups AS g
CROSS JOIN totals
LEFT JOIN self_time AS s
       ON s.service IS NOT DISTINCT FROM g.service AND s.operation IS NOT DISTINCT FROM g.operation
ORDER BY rank;

CREATE OR REPLACE VIEW bottlenecks AS
SELECT rank, service, cp_share, cp_share_slow, wait_share, self_p95_us, cp_us, wait_us, traces
FROM bottleneck_shares();

CREATE OR REPLACE VIEW bottleneck_operations AS
SELECT rank, service, operation, cp_share, cp_share_slow, wait_share, self_p95_us, cp_us, wait_us,
       traces
FROM bottleneck_shares(by_operation := true);

-- slow_attributes(...): which span and resource attribute values come with slowness (tails).
-- Like is compared with like: traces are grouped by kind (root service and operation; kinds with
-- fewer than min_kind_traces traces in the window are left out), a trace is slow when its
-- critical path is at or above its kind's `quantile`, and the baseline is the rest of those
-- kinds. The baseline is every other trace up to baseline_sample, then that many picked by a
-- hash of their ids (the same ones on every run): the shares become estimates but the attribute
-- scan stays bounded on big windows. Per service, key (resource attributes as "resource.<key>")
-- and value, carried by at least min_traces slow traces: the slow and baseline traces having a
-- span of that service with it, each as a share of its group, difference = slow share - baseline
-- share (the ordering) and lift = slow share / baseline share (NULL when no baseline trace has
-- it). Keys with more than max_values distinct values in a service (ids) are skipped.
CREATE OR REPLACE MACRO slow_attributes(min_traces := 5, max_values := 50, quantile := 0.95,
                                        min_kind_traces := 20, baseline_sample := 20000,
                                        since := NULL, until := NULL) AS TABLE
WITH rooted AS (
    SELECT c.trace_id, c.duration_us, r.service AS root_service, r.operation AS root_operation
    FROM critical_path_traces(since := since, until := until) AS c
    JOIN trace_roots AS r USING (trace_id)
),
kinds AS (
    SELECT root_service, root_operation, quantile_cont(duration_us, quantile) AS threshold
    FROM rooted
    GROUP BY ALL
    HAVING count(*) >= min_kind_traces
),
labelled AS (
    SELECT r.trace_id, r.duration_us >= k.threshold AS is_slow
    FROM rooted AS r
    JOIN kinds AS k
      ON k.root_service IS NOT DISTINCT FROM r.root_service
     AND k.root_operation IS NOT DISTINCT FROM r.root_operation
),
t AS (
    SELECT * FROM labelled WHERE is_slow
    UNION ALL
    SELECT * FROM labelled WHERE NOT is_slow
    QUALIFY row_number() OVER (ORDER BY hash(trace_id), trace_id) <= baseline_sample
),
pairs AS (
    SELECT DISTINCT trace_id, service, entry.key AS key, entry.value AS value
    FROM (
        SELECT trace_id, service, unnest(map_entries(attributes)) AS entry
        FROM span_rows WHERE trace_id IN (SELECT trace_id FROM t)
    )
    UNION
    SELECT DISTINCT trace_id, service, 'resource.' || entry.key, entry.value
    FROM (
        SELECT trace_id, service, unnest(map_entries(resource)) AS entry
        FROM span_rows WHERE trace_id IN (SELECT trace_id FROM t)
    )
),
keys AS (
    SELECT service, key FROM pairs GROUP BY ALL HAVING count(DISTINCT value) <= max_values
),
counts AS (
    SELECT p.service, p.key, p.value,
           count(*) FILTER (WHERE t.is_slow) AS slow_traces,
           count(*) FILTER (WHERE NOT t.is_slow) AS baseline_traces
    FROM pairs AS p
    SEMI JOIN keys AS k ON k.service IS NOT DISTINCT FROM p.service AND k.key = p.key
    JOIN t USING (trace_id)
    GROUP BY ALL
),
sizes AS (
    SELECT count(*) FILTER (WHERE is_slow) AS slow_total,
           count(*) FILTER (WHERE NOT is_slow) AS baseline_total
    FROM t
)
SELECT service, key, value, slow_traces, baseline_traces,
       round(slow_traces / slow_total, 6) AS slow_share,
       round(coalesce(baseline_traces / nullif(baseline_total, 0), 0), 6) AS baseline_share,
       round(slow_share - baseline_share, 6) AS difference,
       round((slow_traces / slow_total) / nullif(baseline_traces / nullif(baseline_total, 0), 0),
             3) AS lift
FROM counts CROSS JOIN sizes
WHERE slow_traces >= min_traces
ORDER BY difference DESC, lift DESC NULLS FIRST, slow_traces DESC, service, key, value;
