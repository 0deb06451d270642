-- Per service, what its time is made of: the p95 of its own work and the p95 of the waits in
-- front of it. Own work is the self time (duration minus children) of its server, consumer and
-- internal spans. A client span's self time is its caller waiting for the callee (a free worker,
-- the network), so, as the bottlenecks view charges critical-path time, it is a wait in front of
-- the callee: the service of the client's child in another service, else the peer it names.
-- span_p95_us: the p95 of all of the service's spans (for a service with client spans only).
WITH own AS (
    SELECT service, quantile_cont(self_us, 0.95) AS own_p95_us, count(*) AS own_spans
    FROM spans
    WHERE kind NOT IN ('client', 'producer')
    GROUP BY service
),
every AS (  -- all of a service's spans, for a service seen only through client spans
    SELECT service, quantile_cont(duration_us, 0.95) AS span_p95_us
    FROM span_rows
    GROUP BY service
),
callees AS (
    SELECT c.trace_id, c.parent_span_id AS span_id, arg_max(c.service, c.duration_us) AS callee
    FROM span_rows AS c
    JOIN span_rows AS p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
    WHERE p.kind = 'client' AND c.service IS DISTINCT FROM p.service
    GROUP BY c.trace_id, c.parent_span_id
),
waits AS (
    SELECT coalesce(k.callee, conv_peer(s.attributes)) AS service,
           quantile_cont(s.self_us, 0.95) AS wait_p95_us, count(*) AS waited_calls
    FROM spans AS s
    LEFT JOIN callees AS k USING (trace_id, span_id)
    WHERE s.kind = 'client' AND coalesce(k.callee, conv_peer(s.attributes)) IS NOT NULL
    GROUP BY ALL
)
SELECT coalesce(o.service, w.service) AS service, o.own_p95_us, o.own_spans, w.wait_p95_us,
       w.waited_calls, e.span_p95_us
FROM own AS o
FULL JOIN waits AS w USING (service)
LEFT JOIN every AS e ON e.service = coalesce(o.service, w.service)
ORDER BY service;
