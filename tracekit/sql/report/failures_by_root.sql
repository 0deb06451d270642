-- Per trace, for datasets whose traces view has no `failed` column yet: the request failed when
-- its root span is an error or answered an HTTP status of 500 or more; errored when any of its
-- spans is an error (failed, or recovered inside a request that succeeded); an entry when its
-- root is not a consumer continuing an earlier request through a message.
SELECT t.trace_id,
       coalesce(s.status = 'ERROR'
                OR try_cast(conv_http_status(s.attributes) AS INTEGER) >= 500, false) AS failed,
       t.error_count > 0 AS errored,
       coalesce(s.kind, '') <> 'consumer' AS is_entry
FROM traces AS t
LEFT JOIN trace_roots AS r USING (trace_id)
LEFT JOIN span_rows AS s ON s.trace_id = r.trace_id AND s.span_id = r.span_id;
