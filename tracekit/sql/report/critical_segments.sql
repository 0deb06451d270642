-- One trace's critical-path segments, for the waterfall's overlay.
SELECT span_id, start_time, end_time, duration_us
FROM critical_path
WHERE trace_id = $trace_id
ORDER BY start_time;
