-- The traces of a report window: a trace belongs to the window when it starts inside
-- [$start, $end) and, when services are named, touches at least one of them. Whole traces are
-- kept so critical paths and funnels stay complete. A plain (not TEMP) table of the in-memory
-- database, so cursors (JupySQL uses one) see it too.
CREATE OR REPLACE TABLE report_window_spans AS
WITH trace_bounds AS (
    SELECT trace_id, min(start_time) AS trace_start, list(DISTINCT service) AS trace_services
    FROM span_rows
    GROUP BY trace_id
)
SELECT s.*
FROM span_rows AS s
JOIN trace_bounds AS t USING (trace_id)
WHERE t.trace_start >= $start AND t.trace_start < $end
  AND (len($services::VARCHAR[]) = 0 OR len(list_intersect(t.trace_services, $services::VARCHAR[])) > 0);
