-- The services where requests enter: the services of root spans, with the traces they start.
-- Consumer roots continue an earlier request (a message) rather than start one.
SELECT s.service, count(*) AS traces
FROM trace_roots AS r
JOIN span_rows AS s ON s.trace_id = r.trace_id AND s.span_id = r.span_id
WHERE r.is_root AND s.kind IS DISTINCT FROM 'consumer'
GROUP BY s.service
ORDER BY traces DESC, s.service;
