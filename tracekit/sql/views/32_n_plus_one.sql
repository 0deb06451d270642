-- n_plus_one: runs of at least 5 calls a parent made of one callee, back to back: what a reviewer
-- calls N+1, a loop paying for one call per item, one after another (docs/analytics.md "N+1").
--
-- Calls are grouped by what they call (`span_calls`: the callee's server span, else the peer the
-- caller names, else the span's own service and operation), not by the client span's name.
-- Sorted by start, a call continues the run when it starts at or after every earlier call of the
-- group ended; one that overlaps an earlier call (a concurrent fan-out) starts a new run. A run
-- is back to back when its median gap (a call's start minus the previous end) is at most 10% of
-- its median call, or 100 us for calls under a millisecond. A busy worker pool's fan-out also
-- runs its calls one at a time, but typically with gaps as long as calls, in which the pool
-- served other requests. Measured on HotROD under load (tests/test_hotrod_analyses.py): the
-- driver's GetDriver loop leaves a median ~20 us between ~10 ms calls (99.8% of gaps under
-- 1 ms; the rest are pauses of the machine up to 30 ms, which a median ignores); frontend's
-- route calls through a 97%-busy pool of 3 workers leave a median 62 ms between ~50 ms calls.
-- Per run: calls, wall_us (first start to last end), sum_us (the calls' durations, about wall_us
-- in a real N+1) and median_gap_us. Per trace.
CREATE OR REPLACE VIEW n_plus_one AS
WITH candidates AS (
    -- only groups big enough to hold a run, so the windows below see few rows
    SELECT trace_id, parent_span_id, callee, callee_operation
    FROM span_calls
    GROUP BY ALL
    HAVING count(*) >= 5
),
calls AS (
    SELECT s.*,
           max(s.end_time) OVER (
               PARTITION BY s.trace_id, s.parent_span_id, s.callee, s.callee_operation
               ORDER BY s.start_time, s.end_time, s.span_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS earlier_end
    FROM span_calls AS s
    SEMI JOIN candidates AS c
           ON c.trace_id = s.trace_id AND c.parent_span_id = s.parent_span_id
          AND c.callee IS NOT DISTINCT FROM s.callee
          AND c.callee_operation IS NOT DISTINCT FROM s.callee_operation
),
runs AS (
    SELECT *,
           sum(CASE WHEN earlier_end IS NULL OR start_time < earlier_end THEN 1 ELSE 0 END) OVER (
               PARTITION BY trace_id, parent_span_id, callee, callee_operation
               ORDER BY start_time, end_time, span_id
               ROWS UNBOUNDED PRECEDING
           ) AS run,
           epoch_us(start_time) - epoch_us(earlier_end) AS gap_us
    FROM calls
),
measured AS (
    SELECT trace_id, parent_span_id,
           any_value(caller) AS caller, any_value(caller_operation) AS caller_operation,
           callee AS service, callee_operation AS operation,
           count(*) AS calls,
           epoch_us(max(end_time)) - epoch_us(min(start_time)) AS wall_us,
           sum(duration_us)::BIGINT AS sum_us,
           -- the run's first call's gap is to the previous run (an overlap) or none
           quantile_cont(gap_us, 0.5) FILTER (WHERE gap_us >= 0 AND start_time > run_start)
               AS median_gap_us,
           quantile_cont(duration_us, 0.5) AS median_call_us,
           min(start_time) AS start_time
    FROM (
        SELECT *, min(start_time) OVER (
                      PARTITION BY trace_id, parent_span_id, callee, callee_operation, run
                  ) AS run_start
        FROM runs
    )
    GROUP BY trace_id, parent_span_id, callee, callee_operation, run
    HAVING count(*) >= 5
)
SELECT trace_id, parent_span_id, caller, caller_operation, service, operation, calls, wall_us,
       sum_us, round(median_gap_us, 1) AS median_gap_us, start_time
FROM measured
WHERE median_gap_us <= greatest(100, median_call_us / 10);

CREATE OR REPLACE VIEW n_plus_one_summary AS
SELECT caller, service, operation, count(*) AS runs, count(DISTINCT trace_id) AS traces,
       round(avg(calls), 2) AS mean_calls, max(calls) AS max_calls, sum(wall_us)::BIGINT AS wall_us,
       sum(sum_us)::BIGINT AS sum_us
FROM n_plus_one
GROUP BY caller, service, operation;
