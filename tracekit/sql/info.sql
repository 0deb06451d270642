-- The summary `tracekit info` prints: one row per metric.
SELECT 'spans' AS metric, count(*)::VARCHAR AS value FROM span_rows
UNION ALL SELECT 'traces', count(DISTINCT trace_id)::VARCHAR FROM span_rows
UNION ALL SELECT 'services', count(DISTINCT service)::VARCHAR FROM span_rows
UNION ALL SELECT 'first span start', min(start_time)::VARCHAR FROM span_rows
UNION ALL SELECT 'last span end', max(end_time)::VARCHAR FROM span_rows
UNION ALL SELECT 'error spans', count(*) FILTER (WHERE status = 'ERROR')::VARCHAR FROM span_rows
UNION ALL SELECT 'orphan spans', count(*)::VARCHAR
    FROM span_rows AS s
    WHERE s.parent_span_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM span_rows AS p
                      WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id)
UNION ALL SELECT 'traces without root', count(*)::VARCHAR FROM traces WHERE NOT has_root;
