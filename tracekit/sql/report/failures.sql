-- Per trace: did the request fail as its caller saw it (traces.failed), does it hold an error
-- span (failed, or recovered inside), and is it a request that entered the system (its root is
-- not a consumer continuing an earlier request through a message).
SELECT t.trace_id, t.failed, t.error_count > 0 AS errored,
       coalesce(s.kind, '') <> 'consumer' AS is_entry
FROM traces AS t
LEFT JOIN trace_roots AS r USING (trace_id)
LEFT JOIN span_rows AS s ON s.trace_id = r.trace_id AND s.span_id = r.span_id;
