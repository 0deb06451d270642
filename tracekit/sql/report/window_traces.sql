-- The traces of a report window: a trace belongs to the window when it starts inside
-- [$start, $end) and, when services are named, touches at least one of them. Whole traces are
-- kept so critical paths and funnels stay complete. Read from the trace summaries, so choosing
-- the window reads one row per trace. A plain (not TEMP) table of the in-memory database, so
-- cursors (JupySQL uses one) see it too.
CREATE OR REPLACE TABLE report_window_traces AS
SELECT trace_id, span_count
FROM traces
WHERE start_time >= $start AND start_time < $end
  AND (len($services::VARCHAR[]) = 0 OR len(list_intersect(services, $services::VARCHAR[])) > 0);
