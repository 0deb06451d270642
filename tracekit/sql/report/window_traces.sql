-- The traces that start inside [$start, $end) and, when services are named, touch at least one
-- of them: a report window, or the stretch a capacity replay is narrowed to
-- (tracekit.connect.narrow_to_traces_in puts them in a table, which restrict_to_traces reads).
-- Whole traces are kept so critical paths and funnels stay complete. Read from the trace
-- summaries, so choosing the window reads one row per trace.
SELECT trace_id, span_count
FROM traces
WHERE start_time >= $start AND start_time < $end
  AND (len($services::VARCHAR[]) = 0 OR len(list_intersect(services, $services::VARCHAR[])) > 0)
