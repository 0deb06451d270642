-- The traces of the connection's views that start in [$start, $end): the period a capacity
-- replay is narrowed to (tracekit/capacity/stretch.py), read by restrict_to_traces.
CREATE OR REPLACE TABLE capacity_period_traces AS
SELECT trace_id, span_count
FROM traces
WHERE start_time >= $start AND start_time < $end;
