-- Per service: spans, traces, errors and time range, for `tracekit info`.
SELECT service,
       count(*) AS spans,
       count(DISTINCT trace_id) AS traces,
       count(*) FILTER (WHERE status = 'ERROR') AS errors,
       min(start_time) AS first_start,
       max(end_time) AS last_end
FROM span_rows
GROUP BY service
ORDER BY service;
