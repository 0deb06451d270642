-- Measured concurrency: the most spans open at once on one instance, per window, by sweeping
-- start (+1) and end (-1) events in time order (ends first when they tie, as the worker is free
-- again before it takes the next request). Reads capacity_work; parameter $window_s.
WITH events AS (
    SELECT service, instance, start_us AS at_us, 1 AS step FROM capacity_work
    UNION ALL
    SELECT service, instance, start_us + duration_us, -1 FROM capacity_work
),
running AS (
    SELECT service, instance, at_us, step,
           sum(step) OVER (PARTITION BY service, instance ORDER BY at_us, step
                           ROWS UNBOUNDED PRECEDING) AS open_spans
    FROM events
)
SELECT service, instance,
       time_bucket(to_microseconds($window_s::BIGINT * 1000000), make_timestamp(at_us))
           AS window_start,
       max(open_spans)::BIGINT AS max_concurrency
FROM running
WHERE step = 1
GROUP BY ALL
ORDER BY service, instance, window_start;
