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
-- Parameters: $window_s, the window length in seconds.
CREATE OR REPLACE TEMP TABLE capacity_work AS
WITH work AS (
    SELECT trace_id, span_id, parent_span_id, service, operation, kind, status,
           start_time, end_time, duration_us,
           coalesce(resource['service.instance.id'], service) AS instance,
           CASE WHEN kind = 'consumer' AND len(links) > 0 THEN links[1] END AS link
    FROM span_rows
    WHERE kind IN ('server', 'consumer')
)
SELECT w.trace_id, w.span_id, w.service, w.operation, w.kind, w.instance, w.status,
       time_bucket(to_microseconds($window_s::BIGINT * 1000000), w.start_time) AS window_start,
       epoch_us(w.start_time) AS start_us,
       w.duration_us,
       w.duration_us - coalesce(st.covered_us, 0) AS self_us,
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
LEFT JOIN span_self_time AS st ON st.trace_id = w.trace_id AND st.span_id = w.span_id
LEFT JOIN span_rows AS c
       ON w.kind = 'server' AND c.trace_id = w.trace_id AND c.span_id = w.parent_span_id
      AND c.kind = 'client'
LEFT JOIN span_rows AS pr
       ON w.kind = 'consumer' AND pr.kind = 'producer'
      AND pr.trace_id = coalesce(w.link.trace_id, w.trace_id)
      AND pr.span_id = coalesce(w.link.span_id, w.parent_span_id)
LEFT JOIN span_rows AS p1 ON p1.trace_id = c.trace_id AND p1.span_id = c.parent_span_id
LEFT JOIN span_rows AS p2
       ON p1.kind = 'internal' AND p2.trace_id = p1.trace_id AND p2.span_id = p1.parent_span_id;
