-- span_calls: every span that has a parent, seen as a call its parent made: who called (the
-- parent's service and operation) and what was called (callee, callee_operation). What was
-- called is the server span under the call where one exists (HotROD's frontend `HTTP GET`
-- spans are calls of route `/route` or of customer `/customer`: grouped by their own name they
-- would be one), else where the call went as the caller names it (`conv_peer_endpoint`:
-- peer.service, else server address:port) with the span's own operation, else the span's own
-- service and operation (HotROD's redis-manual `GetDriver`, recorded by the caller itself).
-- Per trace: every column depends on one trace's spans.
CREATE OR REPLACE VIEW span_calls AS
WITH servers AS (
    -- the longest server span under the call (then the lowest span id)
    SELECT trace_id, parent_span_id AS span_id, service, operation
    FROM span_rows
    WHERE kind = 'server' AND parent_span_id IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY trace_id, parent_span_id ORDER BY duration_us DESC, span_id
    ) = 1
)
SELECT c.trace_id, c.span_id, c.parent_span_id,
       p.service AS caller, p.operation AS caller_operation,
       coalesce(v.service, conv_peer_endpoint(c.attributes), c.service) AS callee,
       coalesce(v.operation, c.operation) AS callee_operation,
       c.service, c.operation, c.kind, c.start_time, c.end_time, c.duration_us,
       coalesce(c.status = 'ERROR', false) AS is_error
FROM span_rows AS c
LEFT JOIN servers AS v ON v.trace_id = c.trace_id AND v.span_id = c.span_id
LEFT JOIN (
    SELECT trace_id, span_id, any_value(service) AS service, any_value(operation) AS operation
    FROM span_rows
    GROUP BY trace_id, span_id
) AS p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
WHERE c.parent_span_id IS NOT NULL;
