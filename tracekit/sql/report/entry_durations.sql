-- The durations (ms) of the requests of one kind: traces whose root span is $service
-- $operation and not a consumer.
SELECT t.duration_us / 1000.0 AS duration_ms
FROM traces AS t
JOIN trace_roots AS r USING (trace_id)
JOIN span_rows AS s ON s.trace_id = r.trace_id AND s.span_id = r.span_id
WHERE r.is_root AND s.kind IS DISTINCT FROM 'consumer'
  AND s.service = $service AND s.operation = $operation;
