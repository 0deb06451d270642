-- Per component and window (of arrivals): arrivals, service time (the span's duration less the
-- time it waited inside for a lock; duration and self time too), the wait callers saw outside
-- it, and busy worker-seconds. Rates and concurrency are divided by the time the data covers in
-- the window (windows.py), not here. Reads capacity_work.
SELECT service, window_start,
       count(*)::BIGINT AS arrivals,
       avg(duration_us - inner_wait_us) / 1000.0 AS mean_service_ms,
       quantile_cont(duration_us - inner_wait_us, 0.95) / 1000.0 AS p95_service_ms,
       coalesce(var_pop(duration_us - inner_wait_us)
                / nullif(avg(duration_us - inner_wait_us) ^ 2, 0), 0) AS service_cv2,
       avg(duration_us) / 1000.0 AS mean_duration_ms,
       avg(self_us) / 1000.0 AS mean_self_ms,
       count(gap_us)::BIGINT AS observed_calls,
       avg(gap_us + inner_wait_us) / 1000.0 AS mean_wait_ms,
       quantile_cont(gap_us + inner_wait_us, 0.95) / 1000.0 AS p95_wait_ms,
       quantile_cont(caller_us, 0.5) / 1000.0 AS p50_caller_ms,
       quantile_cont(caller_us, 0.95) / 1000.0 AS p95_caller_ms,
       sum(duration_us - inner_wait_us) / 1e6 AS busy_s,
       count(DISTINCT instance)::BIGINT AS instances
FROM capacity_work
GROUP BY service, window_start
ORDER BY service, window_start;
