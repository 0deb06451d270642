-- Charges: who owns each critical-path segment (docs/analytics.md "Bottlenecks").
--
-- Per-trace views (stored per trace when spans are written): critical_path_charges,
-- trace_charges.
--
-- critical_path_charges: each critical-path segment charged to a service and operation. A
-- client span's own time (before its server child started, after it ended: waiting for a free
-- worker, the network) is charged to the callee as wait, not to the caller: the callee is the
-- service of the client's longest child in another service, else the service the client names
-- (conv_peer: `peer.service`, else the server's address); a client with neither keeps its time
-- as its own. Everything else is the span's own work.
CREATE OR REPLACE VIEW critical_path_charges AS
WITH callees AS (
    SELECT c.trace_id, c.parent_span_id,
           arg_max(c.service, c.duration_us) AS service,
           arg_max(c.operation, c.duration_us) AS operation
    FROM span_rows AS c
    JOIN span_rows AS p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
    WHERE p.kind = 'client' AND c.service IS DISTINCT FROM p.service
    GROUP BY c.trace_id, c.parent_span_id
),
peers AS (
    SELECT trace_id, span_id, conv_peer(attributes) AS peer
    FROM span_rows
    WHERE kind = 'client' AND conv_peer(attributes) IS NOT NULL
)
SELECT cp.trace_id, cp.span_id, cp.service AS span_service, cp.operation AS span_operation,
       cp.start_time, cp.duration_us,
       coalesce(c.service, p.peer, cp.service) AS service,
       CASE WHEN c.service IS NOT NULL THEN c.operation
            WHEN p.peer IS NOT NULL THEN cp.operation
            ELSE cp.operation END AS operation,
       c.service IS NOT NULL OR p.peer IS NOT NULL AS is_wait
FROM critical_path AS cp
LEFT JOIN callees AS c
       ON cp.kind = 'client' AND c.trace_id = cp.trace_id AND c.parent_span_id = cp.span_id
LEFT JOIN peers AS p
       ON cp.kind = 'client' AND p.trace_id = cp.trace_id AND p.span_id = cp.span_id;

-- trace_charges (per trace): critical_path_charges summed per trace, service, operation and
-- is_wait, with the group's first segment start and last segment end: what the bottleneck
-- ranking reads of an order's own trace (about a fifth of the segments' rows).
CREATE OR REPLACE VIEW trace_charges AS
SELECT trace_id, service, operation, is_wait, min(start_time) AS start_time,
       max(start_time + to_microseconds(duration_us)) AS end_time,
       sum(duration_us)::BIGINT AS duration_us
FROM critical_path_charges
GROUP BY ALL;
