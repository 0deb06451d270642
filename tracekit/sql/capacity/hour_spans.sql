-- Spans per hour, each trace's spans counted in the hour it started: what the replay's stretch
-- is cut from when the data hold more spans than the replay fits in memory
-- (tracekit/capacity/stretch.py). One row per hour holding a trace start, in time order.
SELECT time_bucket(INTERVAL 1 HOUR, start_time) AS hour, sum(span_count)::BIGINT AS spans
FROM traces
GROUP BY ALL
ORDER BY hour;
