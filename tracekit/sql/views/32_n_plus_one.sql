-- n_plus_one: runs of at least 5 calls of one operation (same service and operation) under one
-- parent that run one after another: sorted by start, each call starts at or after every earlier
-- call of the group has ended. A call that overlaps an earlier one (a concurrent fan-out, a
-- worker pool) starts a new run, so fan-outs are not flagged even when some of their calls
-- happen to be sequential. calls, wall_us (first start to last end) and sum_us (sum of the
-- calls' durations; close to wall_us in a real N+1) per run.
CREATE OR REPLACE VIEW n_plus_one AS
WITH candidates AS (
    -- only groups big enough to hold a run, so the windows below see few rows
    SELECT trace_id, parent_span_id, service, operation
    FROM span_rows
    WHERE parent_span_id IS NOT NULL
    GROUP BY ALL
    HAVING count(*) >= 5
),
calls AS (
    SELECT s.trace_id, s.parent_span_id, s.service, s.operation, s.span_id, s.start_time,
           s.end_time, s.duration_us,
           max(s.end_time) OVER (
               PARTITION BY s.trace_id, s.parent_span_id, s.service, s.operation
               ORDER BY s.start_time, s.end_time, s.span_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS earlier_end
    FROM span_rows AS s
    SEMI JOIN candidates AS c
           ON c.trace_id = s.trace_id AND c.parent_span_id = s.parent_span_id
          AND c.service IS NOT DISTINCT FROM s.service
          AND c.operation IS NOT DISTINCT FROM s.operation
),
runs AS (
    SELECT *,
           sum(CASE WHEN earlier_end IS NULL OR start_time < earlier_end THEN 1 ELSE 0 END) OVER (
               PARTITION BY trace_id, parent_span_id, service, operation
               ORDER BY start_time, end_time, span_id
               ROWS UNBOUNDED PRECEDING
           ) AS run
    FROM calls
)
SELECT trace_id, parent_span_id, service, operation,
       count(*) AS calls,
       epoch_us(max(end_time)) - epoch_us(min(start_time)) AS wall_us,
       sum(duration_us)::BIGINT AS sum_us,
       min(start_time) AS start_time
FROM runs
GROUP BY trace_id, parent_span_id, service, operation, run
HAVING count(*) >= 5;

CREATE OR REPLACE VIEW n_plus_one_summary AS
SELECT service, operation, count(*) AS runs, count(DISTINCT trace_id) AS traces,
       round(avg(calls), 2) AS mean_calls, max(calls) AS max_calls, sum(wall_us)::BIGINT AS wall_us,
       sum(sum_us)::BIGINT AS sum_us
FROM n_plus_one
GROUP BY service, operation;
