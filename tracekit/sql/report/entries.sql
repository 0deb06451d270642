-- Where requests enter, per entry service and operation: the traces whose root span is not a
-- consumer (a consumer root continues an earlier request, through a message), with their p95.
SELECT s.service, s.operation, count(*) AS requests,
       quantile_cont(t.duration_us, 0.95) / 1000 AS p95_ms
FROM traces AS t
JOIN trace_roots AS r USING (trace_id)
JOIN span_rows AS s ON s.trace_id = r.trace_id AND s.span_id = r.span_id
WHERE r.is_root AND s.kind IS DISTINCT FROM 'consumer'
GROUP BY s.service, s.operation
ORDER BY requests DESC, s.service, s.operation;
