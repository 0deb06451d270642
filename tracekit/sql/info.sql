-- The summary `tracekit info` prints: one row per metric.
SELECT 'spans' AS metric, count(*)::VARCHAR AS value FROM span_rows
UNION ALL SELECT 'traces', count(*)::VARCHAR FROM traces
UNION ALL SELECT 'services', count(DISTINCT service)::VARCHAR FROM span_rows
UNION ALL SELECT 'first span start', min(start_time)::VARCHAR FROM span_rows
UNION ALL SELECT 'last span end', max(end_time)::VARCHAR FROM span_rows
UNION ALL SELECT 'error spans', count(*) FILTER (WHERE status = 'ERROR')::VARCHAR FROM span_rows
UNION ALL SELECT 'orphan spans', count(*)::VARCHAR
    FROM telemetry_loss WHERE kind = 'orphan_span'
UNION ALL SELECT 'traces without root', count(*)::VARCHAR FROM traces WHERE NOT has_root;
