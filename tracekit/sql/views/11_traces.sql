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
SELECT s.trace_id, s.span_id, s.service, s.operation, s.parent_span_id IS NULL AS is_root,
       coalesce(s.status = 'ERROR', false) OR conv_error_answer(s.attributes) AS failed
FROM span_rows AS s
QUALIFY row_number() OVER (
    PARTITION BY s.trace_id
    ORDER BY s.parent_span_id IS NULL DESC,
             s.parent_span_id IS NULL OR NOT EXISTS (
                 SELECT 1 FROM span_rows AS p
                 WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
             ) DESC,
             s.start_time, s.span_id
) = 1;

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
