-- capacity_work: one row per unit of work a component's workers did (a SERVER or CONSUMER span),
-- with what its caller saw. A worker is taken for the whole span (thread per request), so the
-- span's duration is the service time; self_us is the part spent outside its children.
--   gap_us     time the caller waited outside this span: a CLIENT parent's duration minus this
--              span's (queueing plus network), or, for a consumer, from the end of the linked
--              PRODUCER span to this span's start (time in the message queue)
--   caller_us  the latency the caller saw: gap plus this span's duration
--   caller_work_span_id  the server/consumer span whose worker made the call and waited for it
--              (a CLIENT's parent, or its grandparent through one INTERNAL span); NULL for roots
--              and for messages (a producer does not wait for its consumer)
-- Reads capacity_spans (spans.sql). Parameters: $window_s, the window length in seconds.
CREATE OR REPLACE TEMP TABLE capacity_work AS
WITH work AS (
    SELECT * FROM capacity_spans WHERE kind IN ('server', 'consumer')
),
-- self time as in the spans view (union of the children's intervals clipped to the span),
-- computed here for work spans only
child AS (
    SELECT p.trace_id, p.span_id,
           greatest(c.start_time, p.start_time) AS child_start,
           least(c.end_time, p.end_time) AS child_end
    FROM work AS p
    JOIN capacity_spans AS c ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
    WHERE c.end_time > p.start_time AND c.start_time < p.end_time
),
islands AS (
    SELECT *,
           sum(CASE WHEN covered_until IS NULL OR child_start > covered_until THEN 1 ELSE 0 END)
               OVER (PARTITION BY trace_id, span_id ORDER BY child_start, child_end
                     ROWS UNBOUNDED PRECEDING) AS island
    FROM (
        SELECT *,
               max(child_end) OVER (
                   PARTITION BY trace_id, span_id ORDER BY child_start, child_end
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
               ) AS covered_until
        FROM child
    )
),
covered AS (
    SELECT trace_id, span_id, sum(island_us)::BIGINT AS covered_us
    FROM (
        SELECT trace_id, span_id, island,
               epoch_us(max(child_end)) - epoch_us(min(child_start)) AS island_us
        FROM islands
        GROUP BY trace_id, span_id, island
    )
    GROUP BY trace_id, span_id
)
SELECT w.trace_id, w.span_id, w.service, w.operation, w.kind, w.instance, w.status,
       time_bucket(to_microseconds($window_s::BIGINT * 1000000), w.start_time) AS window_start,
       epoch_us(w.start_time) AS start_us,
       w.duration_us,
       w.duration_us - coalesce(cv.covered_us, 0) AS self_us,
       CASE WHEN c.span_id IS NOT NULL THEN greatest(c.duration_us - w.duration_us, 0)
            WHEN pr.span_id IS NOT NULL
                THEN greatest(epoch_us(w.start_time) - epoch_us(pr.end_time), 0)
       END AS gap_us,
       CASE WHEN c.span_id IS NOT NULL THEN greatest(c.duration_us, w.duration_us)
            WHEN pr.span_id IS NOT NULL
                THEN greatest(epoch_us(w.end_time) - epoch_us(pr.end_time), w.duration_us)
       END AS caller_us,
       coalesce(c.service, pr.service) AS caller_service,
       CASE WHEN p1.kind IN ('server', 'consumer') THEN p1.span_id
            WHEN p1.kind = 'internal' AND p2.kind IN ('server', 'consumer') THEN p2.span_id
       END AS caller_work_span_id
FROM work AS w
LEFT JOIN covered AS cv ON cv.trace_id = w.trace_id AND cv.span_id = w.span_id
LEFT JOIN capacity_spans AS c
       ON w.kind = 'server' AND c.trace_id = w.trace_id AND c.span_id = w.parent_span_id
      AND c.kind = 'client'
LEFT JOIN capacity_spans AS pr
       ON w.kind = 'consumer' AND pr.kind = 'producer'
      AND pr.trace_id = coalesce(w.link.trace_id, w.trace_id)
      AND pr.span_id = coalesce(w.link.span_id, w.parent_span_id)
LEFT JOIN capacity_spans AS p1 ON p1.trace_id = c.trace_id AND p1.span_id = c.parent_span_id
LEFT JOIN capacity_spans AS p2
       ON p1.kind = 'internal' AND p2.trace_id = p1.trace_id AND p2.span_id = p1.parent_span_id;
