-- Per trace the time it spans (epoch microseconds), the raw material of the time the data
-- covers (windows.coverage merges these). Reads capacity_spans.
SELECT epoch_us(min(start_time)) AS start_us, epoch_us(max(end_time)) AS end_us
FROM capacity_spans
GROUP BY trace_id
ORDER BY start_us;
