-- capacity_work: one row per unit of work a component did, with what its caller saw.
--
-- A component is a service doing SERVER or CONSUMER spans, or something called only through
-- CLIENT spans that nothing answers with a span of its own (a leaf: a database, a cache). A
-- leaf's CLIENT spans are calls made while serving something (they have a parent); it is named
-- by their service when that service does no server work and records its spans under another
-- service's (HotROD's tracer per backend: `mysql`, `redis-manual`), else by the database
-- system or peer the call names. A name that some client span calls and a server span answers
-- is a traced service (its span went missing here), not a leaf.
--   arrival_us    when the request reached the component: the caller's CLIENT span start, the
--                 message's publication (message_waits), else the span's start
--   gap_us        time the caller waited outside this span: a CLIENT parent's duration minus
--                 this span's (queueing plus network), or for a consumer the message's wait in
--                 the broker (message_waits.wait_us); 0 for a leaf (its client span is the call)
--   inner_wait_us time inside the span before its work got the lock it waited for (lock events)
--   caller_us     the latency the caller saw: gap plus this span's duration
--   caller_key    the key of the server/consumer span whose worker made the call and waited for
--                 it (the call's parent, or its grandparent through one INTERNAL span); NULL for
--                 roots and for messages (a producer does not wait for its consumer)
--   call_island, call_end_us  calls made at once by one span share an island (see below)
-- Reads capacity_spans (spans.sql) and message_waits. Parameter $window_s: the window length.
CREATE OR REPLACE TEMP TABLE capacity_work AS
WITH worked AS (
    SELECT DISTINCT service FROM capacity_spans WHERE kind IN ('server', 'consumer')
),
answered AS (
    SELECT DISTINCT parent_key AS key FROM capacity_spans
    WHERE kind IN ('server', 'consumer') AND parent_key IS NOT NULL
),
traced_names AS (
    SELECT DISTINCT c.leaf_name AS name
    FROM capacity_spans AS c SEMI JOIN answered AS a ON a.key = c.key
    WHERE c.leaf_name IS NOT NULL
    UNION
    SELECT service FROM worked
),
leaves AS (
    SELECT * EXCLUDE (named), named AS component, true AS leaf
    FROM (
        SELECT c.*,
               CASE WHEN c.service NOT IN (SELECT service FROM worked)
                         AND p.service IS DISTINCT FROM c.service THEN c.service
                    ELSE c.leaf_name END AS named
        FROM capacity_spans AS c
        ANTI JOIN answered AS a ON a.key = c.key
        JOIN capacity_spans AS p ON p.key = c.parent_key
        WHERE c.kind = 'client'
    )
    WHERE named IS NOT NULL AND named NOT IN (SELECT name FROM traced_names)
),
work AS (
    SELECT *, service AS component, false AS leaf
    FROM capacity_spans WHERE kind IN ('server', 'consumer')
    UNION ALL BY NAME
    SELECT * FROM leaves
),
-- The span that is the call, seen from the caller: a server's CLIENT parent, a leaf itself.
called AS (
    SELECT w.key AS callee_key, c.key AS call_key, c.parent_key AS caller,
           epoch_us(c.start_time) AS call_start, epoch_us(c.end_time) AS call_end
    FROM work AS w
    JOIN capacity_spans AS c
      ON w.kind = 'server' AND NOT w.leaf AND c.key = w.parent_key AND c.kind = 'client'
    UNION ALL
    SELECT key, key, parent_key, epoch_us(start_time), epoch_us(end_time)
    FROM work WHERE leaf
),
-- Calls one span made at the same time (overlapping calls under one parent) form a
-- call_island: a slower callee delays its caller only by how much it moves the island's end.
-- Calls that merely touch (one starts as the previous ends) are sequential. The windows run
-- over one global order (caller, start) instead of a PARTITION BY per caller, several times
-- faster: the running maximum carries the caller key, so a value left over from the previous
-- caller is recognised and ignored.
call_islands AS (
    SELECT callee_key, call_end,
           sum(CASE WHEN before IS NULL OR before.parent <> caller
                         OR call_start >= before.until THEN 1 ELSE 0 END)
               OVER (ORDER BY caller, call_start, call_end ROWS UNBOUNDED PRECEDING)
               AS call_island
    FROM (
        SELECT *,
               max({'parent': caller, 'until': call_end}) OVER (
                   ORDER BY caller, call_start, call_end
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
               ) AS before
        FROM called
        WHERE caller IS NOT NULL
    )
),
-- A consumer span's message: when it was published and how long it waited in the broker (the
-- first message, should one span have taken several).
waits AS (
    SELECT hash(consumer_trace_id, consumer_span_id) AS key,
           min(epoch_us(published_at)) AS published_us,
           max(wait_us) AS wait_us,
           any_value(service) AS producer_service
    FROM message_waits
    GROUP BY ALL
),
placed AS (
    SELECT w.*, cl.call_key, ci.call_island, ci.call_end AS call_end_us,
           c.duration_us AS client_us, c.start_time AS client_start, c.service AS client_service,
           mw.published_us, mw.wait_us AS message_wait_us, mw.producer_service,
           p1.kind AS p1_kind, p1.key AS p1_key, p1.service AS p1_service,
           p2.kind AS p2_kind, p2.key AS p2_key
    FROM work AS w
    LEFT JOIN called AS cl ON cl.callee_key = w.key
    LEFT JOIN call_islands AS ci ON ci.callee_key = w.key
    LEFT JOIN capacity_spans AS c ON NOT w.leaf AND c.key = cl.call_key
    LEFT JOIN waits AS mw ON w.kind = 'consumer' AND mw.key = w.key
    LEFT JOIN capacity_spans AS p1 ON p1.key = cl.caller
    LEFT JOIN capacity_spans AS p2 ON p1.kind = 'internal' AND p2.key = p1.parent_key
),
timed AS (
    SELECT *,
           CASE WHEN client_start IS NOT NULL
                    THEN least(epoch_us(client_start), epoch_us(start_time))
                WHEN published_us IS NOT NULL THEN least(published_us, epoch_us(start_time))
                ELSE epoch_us(start_time) END AS arrival_us
    FROM placed
)
SELECT trace_id, span_id, key, component AS service, operation, kind, instance, status, leaf,
       time_bucket(to_microseconds($window_s::BIGINT * 1000000), make_timestamp(arrival_us))
           AS window_start,
       arrival_us,
       epoch_us(start_time) AS start_us,
       duration_us,
       self_us,
       CASE WHEN acquired_us > epoch_us(start_time) AND acquired_us <= epoch_us(end_time)
            THEN acquired_us - epoch_us(start_time) ELSE 0 END AS inner_wait_us,
       CASE WHEN client_us IS NOT NULL THEN greatest(client_us - duration_us, 0)
            WHEN message_wait_us IS NOT NULL THEN greatest(message_wait_us, 0)
            WHEN leaf THEN 0
       END AS gap_us,
       CASE WHEN client_us IS NOT NULL THEN greatest(client_us, duration_us)
            WHEN message_wait_us IS NOT NULL THEN greatest(message_wait_us, 0) + duration_us
            WHEN leaf THEN duration_us
       END AS caller_us,
       coalesce(client_service, producer_service, CASE WHEN leaf THEN p1_service END)
           AS caller_service,
       CASE WHEN p1_kind IN ('server', 'consumer') THEN p1_key
            WHEN p1_kind = 'internal' AND p2_kind IN ('server', 'consumer') THEN p2_key
       END AS caller_key,
       call_island, call_end_us
FROM timed;
