-- traces: one row per trace. The root is the earliest span without a parent; a trace whose
-- root never arrived (telemetry loss) falls back to its earliest span whose parent is missing,
-- and a trace whose spans all have their parent present (a parent cycle: broken ids) to its
-- earliest span; has_root tells a root from a stand-in.
--
-- failed: the request failed as its caller saw it: the root (the entry span) has status ERROR
-- or its answer says so (conv_error_answer: HTTP >= 500, a gRPC server error). Errors inside a
-- request that it recovered from (HotROD retries every failed Redis GetDriver call, so all its
-- requests hold ERROR spans while nearly all answer 200) are not failures: error_count counts
-- them, failed does not.
CREATE OR REPLACE VIEW trace_roots AS
WITH chosen AS (
    -- one aggregate rather than a window sorting every span of each trace
    SELECT s.trace_id,
           arg_min({'span_id': s.span_id, 'service': s.service, 'operation': s.operation,
                    'is_root': s.parent_span_id IS NULL, 'status': s.status,
                    'attributes': s.attributes},
                   {'not_root': s.parent_span_id IS NOT NULL, 'has_parent': p.span_id IS NOT NULL,
                    'start_time': s.start_time, 'span_id': s.span_id}) AS root
    FROM span_rows AS s
    LEFT JOIN (SELECT DISTINCT trace_id, span_id FROM span_rows) AS p
           ON p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
    GROUP BY s.trace_id
)
SELECT trace_id, root.span_id, root.service, root.operation, root.is_root,
       coalesce(root.status = 'ERROR', false) OR conv_error_answer(root.attributes) AS failed
FROM chosen;

CREATE OR REPLACE VIEW traces AS
SELECT a.trace_id,
       r.service AS root_service,
       r.operation AS root_operation,
       a.start_time,
       a.end_time,
       epoch_us(a.end_time) - epoch_us(a.start_time) AS duration_us,
       a.span_count,
       a.error_count,
       a.services,
       coalesce(r.is_root, false) AS has_root,
       coalesce(r.failed, false) AS failed
FROM (
    SELECT trace_id,
           min(start_time) AS start_time,
           max(end_time) AS end_time,
           count(*) AS span_count,
           count(*) FILTER (WHERE status = 'ERROR') AS error_count,
           list_sort(list_distinct(list(service))) AS services
    FROM span_rows
    GROUP BY trace_id
) AS a
LEFT JOIN trace_roots AS r USING (trace_id);
