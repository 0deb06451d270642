-- Per component and window: arrivals (work spans started), service time (duration and self
-- time), the wait callers saw outside it, and concurrency by Little's law (arrivals x mean
-- service time / window length). Reads capacity_work; parameter $window_s.
SELECT service, window_start,
       count(*)::BIGINT AS arrivals,
       count(*) / $window_s::DOUBLE AS arrival_rate_per_s,
       avg(duration_us) / 1000.0 AS mean_service_ms,
       quantile_cont(duration_us, 0.95) / 1000.0 AS p95_service_ms,
       coalesce(var_pop(duration_us) / nullif(avg(duration_us) ^ 2, 0), 0) AS service_cv2,
       avg(self_us) / 1000.0 AS mean_self_ms,
       count(gap_us)::BIGINT AS observed_calls,
       avg(gap_us) / 1000.0 AS mean_wait_ms,
       quantile_cont(gap_us, 0.95) / 1000.0 AS p95_wait_ms,
       quantile_cont(caller_us, 0.5) / 1000.0 AS p50_caller_ms,
       quantile_cont(caller_us, 0.95) / 1000.0 AS p95_caller_ms,
       sum(duration_us) / ($window_s::DOUBLE * 1000000.0) AS concurrency,
       count(DISTINCT instance)::BIGINT AS instances
FROM capacity_work
GROUP BY service, window_start
ORDER BY service, window_start;
