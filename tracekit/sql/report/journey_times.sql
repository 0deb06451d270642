-- Requests that hand work on through messages, per entry: how long the caller waited for the
-- entry span, against how long the whole journey took to the last consumer (completed ones).
SELECT entry_service, entry_operation, count(*) AS journeys,
       count(*) FILTER (WHERE outcome = 'completed') AS completed,
       quantile_cont(entry_us, 0.95) / 1000 AS entry_p95_ms,
       quantile_cont(duration_us, 0.95) FILTER (WHERE outcome = 'completed') / 1000
           AS end_to_end_p95_ms
FROM journeys
WHERE messages > 0
GROUP BY entry_service, entry_operation
ORDER BY journeys DESC, entry_service, entry_operation;
