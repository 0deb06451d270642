-- capacity_work: one row per unit of work a component's workers did (a SERVER or CONSUMER span),
-- with what its caller saw. A worker is taken for the whole span (thread per request), so the
-- span's duration is the service time; self_us is the part spent outside its children.
--   gap_us     time the caller waited outside this span: a CLIENT parent's duration minus this
--              span's (queueing plus network), or, for a consumer, from the end of the linked
--              PRODUCER span to this span's start (time in the message queue)
--   caller_us  the latency the caller saw: gap plus this span's duration
--   caller_key the key of the server/consumer span whose worker made the call and waited for it
--              (a CLIENT's parent, or its grandparent through one INTERNAL span); NULL for roots
--              and for messages (a producer does not wait for its consumer)
--   call_island, call_end_us  calls made at once by one span share an island (see below)
-- Reads capacity_spans (spans.sql). Parameters: $window_s, the window length in seconds.
CREATE OR REPLACE TEMP TABLE capacity_work AS
WITH work AS (
    SELECT * FROM capacity_spans WHERE kind IN ('server', 'consumer')
),
-- Self time as in the spans view (the union of the children's intervals clipped to the span),
-- for work spans only. The windows run over one global order (parent, start) instead of a
-- PARTITION BY per parent, several times faster here: the running maximum carries the parent
-- key, so a value left over from the previous parent is recognised and ignored.
child AS (
    SELECT p.key AS parent_key,
           greatest(c.start_time, p.start_time) AS child_start,
           least(c.end_time, p.end_time) AS child_end
    FROM work AS p
    JOIN capacity_spans AS c ON c.parent_key = p.key
    WHERE c.end_time > p.start_time AND c.start_time < p.end_time
),
marked AS (
    SELECT *,
           max({'parent': parent_key, 'until': child_end}) OVER (
               ORDER BY parent_key, child_start, child_end
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS before
    FROM child
),
islands AS (
    SELECT *,
           sum(CASE WHEN before IS NULL OR before.parent <> parent_key
                         OR child_start > before.until THEN 1 ELSE 0 END)
               OVER (ORDER BY parent_key, child_start, child_end ROWS UNBOUNDED PRECEDING)
               AS island
    FROM marked
),
covered AS (
    SELECT parent_key, sum(island_us)::BIGINT AS covered_us
    FROM (
        SELECT parent_key, island,
               epoch_us(max(child_end)) - epoch_us(min(child_start)) AS island_us
        FROM islands
        GROUP BY parent_key, island
    )
    GROUP BY parent_key
),
-- Calls one span made at the same time (overlapping CLIENT spans under one parent) form a
-- call_island: a slower callee delays its caller only by how much it moves the island's end.
-- Calls that merely touch (one starts as the previous ends) are sequential.
calls AS (
    SELECT w.key AS callee_key, c.parent_key AS caller,
           epoch_us(c.start_time) AS call_start, epoch_us(c.end_time) AS call_end
    FROM work AS w
    JOIN capacity_spans AS c ON w.kind = 'server' AND c.key = w.parent_key AND c.kind = 'client'
    WHERE c.parent_key IS NOT NULL
),
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
        FROM calls
    )
)
SELECT w.trace_id, w.span_id, w.key, w.service, w.operation, w.kind, w.instance, w.status,
       time_bucket(to_microseconds($window_s::BIGINT * 1000000), w.start_time) AS window_start,
       epoch_us(w.start_time) AS start_us,
       w.duration_us,
       w.duration_us - coalesce(cv.covered_us, 0) AS self_us,
       CASE WHEN c.key IS NOT NULL THEN greatest(c.duration_us - w.duration_us, 0)
            WHEN pr.key IS NOT NULL
                THEN greatest(epoch_us(w.start_time) - epoch_us(pr.end_time), 0)
       END AS gap_us,
       CASE WHEN c.key IS NOT NULL THEN greatest(c.duration_us, w.duration_us)
            WHEN pr.key IS NOT NULL
                THEN greatest(epoch_us(w.end_time) - epoch_us(pr.end_time), w.duration_us)
       END AS caller_us,
       coalesce(c.service, pr.service) AS caller_service,
       CASE WHEN p1.kind IN ('server', 'consumer') THEN p1.key
            WHEN p1.kind = 'internal' AND p2.kind IN ('server', 'consumer') THEN p2.key
       END AS caller_key,
       ci.call_island, ci.call_end AS call_end_us
FROM work AS w
LEFT JOIN covered AS cv ON cv.parent_key = w.key
LEFT JOIN call_islands AS ci ON ci.callee_key = w.key
LEFT JOIN capacity_spans AS c
       ON w.kind = 'server' AND c.key = w.parent_key AND c.kind = 'client'
LEFT JOIN capacity_spans AS pr
       ON w.kind = 'consumer' AND pr.kind = 'producer'
      AND pr.key = coalesce(w.link_key, w.parent_key)
LEFT JOIN capacity_spans AS p1 ON p1.key = c.parent_key
LEFT JOIN capacity_spans AS p2 ON p1.kind = 'internal' AND p2.key = p1.parent_key;
