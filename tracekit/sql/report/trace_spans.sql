-- One trace's spans for its waterfall, in start order, each with its critical-path time.
WITH path AS (
    SELECT span_id, sum(duration_us) AS critical_us
    FROM critical_path
    WHERE trace_id = $trace_id
    GROUP BY span_id
)
SELECT s.span_id, s.parent_span_id, s.service, s.operation, s.kind, s.start_time, s.end_time,
       s.duration_us, s.status, s.status_message, coalesce(p.critical_us, 0) AS critical_us
FROM spans AS s
LEFT JOIN path AS p USING (span_id)
WHERE s.trace_id = $trace_id
ORDER BY s.start_time, s.span_id;
