-- Latency distributions per service and per operation.
--
-- Entry spans: where a request enters a service: a root, or a span whose parent belongs to
-- another service, or an orphan; client and producer spans (calls going out) never do, except
-- as roots. Per-service latency is measured on entry spans, so a service's client and internal
-- spans do not count its requests twice. They come from cross_service_spans (12), computed per
-- trace when spans are written, so no query joins every span with its parent.
CREATE OR REPLACE VIEW entry_spans AS
SELECT trace_id, span_id, service, operation, kind, start_time, duration_us, is_error
FROM cross_service_spans
WHERE parent_span_id IS NULL OR kind NOT IN ('client', 'producer') OR kind IS NULL;

-- latency_spans: every span with two flags, is_error and is_entry (above).
CREATE OR REPLACE VIEW latency_spans AS
SELECT s.trace_id, s.span_id, s.service, s.operation, s.kind, s.start_time, s.duration_us,
       coalesce(s.status = 'ERROR', false) AS is_error,
       e.span_id IS NOT NULL AS is_entry
FROM span_rows AS s
LEFT JOIN entry_spans AS e USING (trace_id, span_id);

-- latency_source: the spans a latency macro reads: entry spans per service, every stored span
-- per operation (with a literal by_operation DuckDB drops the unused branch).
CREATE OR REPLACE MACRO latency_source(by_operation) AS TABLE
SELECT service, operation, start_time, duration_us, is_error
FROM entry_spans
WHERE NOT by_operation
UNION ALL
SELECT service, operation, start_time, duration_us, coalesce(status = 'ERROR', false)
FROM span_rows
WHERE by_operation;

-- latency_groups: the shared aggregate behind latency_summary and latency_over_time. bucket NULL
-- means one group over all time. Exact quantiles (quantile_cont, interpolated) unless
-- approximate, then DuckDB's t-digest approx_quantile; FILTER keeps the unused one empty.
CREATE OR REPLACE MACRO latency_groups(bucket, by_operation, approximate) AS TABLE
SELECT bucket_start, service, operation, spans, round(mean_us, 1) AS mean_us,
       round(q[1], 1) AS p50_us, round(q[2], 1) AS p90_us, round(q[3], 1) AS p95_us,
       round(q[4], 1) AS p99_us, max_us,
       errors, round(errors / spans, 6) AS error_rate
FROM (
    SELECT time_bucket(bucket, start_time) AS bucket_start,
           service,
           CASE WHEN by_operation THEN operation END AS operation,
           count(*) AS spans,
           avg(duration_us) AS mean_us,
           coalesce(
               quantile_cont(duration_us, [0.5, 0.9, 0.95, 0.99]) FILTER (WHERE NOT approximate),
               approx_quantile(duration_us, [0.5, 0.9, 0.95, 0.99]) FILTER (WHERE approximate)
                   ::DOUBLE[]
           ) AS q,
           max(duration_us) AS max_us,
           count(*) FILTER (WHERE is_error) AS errors
    FROM latency_source(by_operation)
    GROUP BY ALL
);

-- latency_summary(): one row per service (entry spans), or per service and operation (every
-- span) with by_operation := true: spans, mean_us, p50_us, p90_us, p95_us, p99_us, max_us,
-- errors, error_rate.
CREATE OR REPLACE MACRO latency_summary(by_operation := false, approximate := false) AS TABLE
SELECT * EXCLUDE (bucket_start)
FROM latency_groups(NULL::INTERVAL, by_operation, approximate)
ORDER BY service, operation;

CREATE OR REPLACE VIEW latency_by_service AS
SELECT * EXCLUDE (operation) FROM latency_summary();

CREATE OR REPLACE VIEW latency_by_operation AS
SELECT * FROM latency_summary(by_operation := true);

-- latency_over_time(INTERVAL 5 MINUTE): the same columns per time bucket (bucket_start, UTC;
-- a span belongs to the bucket it started in).
CREATE OR REPLACE MACRO latency_over_time(bucket, by_operation := false, approximate := false)
AS TABLE
SELECT *
FROM latency_groups(bucket, by_operation, approximate)
ORDER BY bucket_start, service, operation;

-- latency_histogram(bins := 40): log-spaced bins shared by every group (so charts compare),
-- from the shortest to the longest duration (zero durations count as 1 us). Every bin appears
-- for every group, empty ones with spans = 0; cumulative_share is the ECDF at upper_us.
CREATE OR REPLACE MACRO latency_histogram(bins := 40, by_operation := false) AS TABLE
WITH src AS (
    SELECT service, CASE WHEN by_operation THEN operation END AS operation,
           ln(greatest(duration_us, 1)) AS log_us
    FROM latency_source(by_operation)
),
edges AS (SELECT min(log_us) AS lo, max(log_us) AS hi FROM src),
counts AS (
    SELECT service, operation,
           least(CASE WHEN hi > lo THEN floor((log_us - lo) / (hi - lo) * bins) ELSE 0 END,
                 bins - 1)::INTEGER AS bin,
           count(*) AS spans
    FROM src, edges
    GROUP BY ALL
),
grid AS (
    SELECT g.service, g.operation, r.bin::INTEGER AS bin
    FROM (SELECT DISTINCT service, operation FROM src) AS g, range(bins) AS r(bin)
),
filled AS (
    SELECT grid.service, grid.operation, grid.bin, coalesce(c.spans, 0) AS spans
    FROM grid
    LEFT JOIN counts AS c
        ON c.service IS NOT DISTINCT FROM grid.service
       AND c.operation IS NOT DISTINCT FROM grid.operation
       AND c.bin = grid.bin
)
SELECT service, operation, bin,
       exp(lo + (hi - lo) * bin / bins) AS lower_us,
       exp(lo + (hi - lo) * (bin + 1) / bins) AS upper_us,
       spans,
       round(spans / sum(spans) OVER w, 6) AS share,
       round(sum(spans) OVER (w ORDER BY bin) / sum(spans) OVER w, 6) AS cumulative_share
FROM filled, edges
WINDOW w AS (PARTITION BY service, operation)
ORDER BY service, operation, bin;

-- latency_ecdf(points := 100): the empirical CDF per group as (share, duration_us) points:
-- the exact quantile at share = 0, 1/points, ..., 1 (0 is the minimum, 1 the maximum).
CREATE OR REPLACE MACRO latency_ecdf(points := 100, by_operation := false) AS TABLE
SELECT service, operation,
       unnest(list_transform(range(0, points + 1), lambda i: i / points)) AS share,
       unnest(q) AS duration_us
FROM (
    SELECT service, CASE WHEN by_operation THEN operation END AS operation,
           quantile_cont(duration_us, list_transform(range(0, points + 1), lambda i: i / points))
               AS q
    FROM latency_source(by_operation)
    GROUP BY ALL
)
ORDER BY service, operation, share;
