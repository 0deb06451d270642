-- N+1: a parent calling one callee again and again, one call after another, back to back: what a
-- reviewer calls N+1, a loop paying for one call per item (docs/analytics.md "N+1").
--
-- Calls are grouped by what they call (`span_calls`: the callee's server span, else the peer the
-- caller names, else the span's own service and operation), not by the client span's name, and
-- a call pattern is who calls what: (caller, caller_operation, callee, callee_operation).
--
-- n_plus_one_runs (per trace): sorted by start, a call continues the run when it starts at or
-- after every earlier call of the group ended; one that overlaps an earlier call starts a new
-- run. A run of at least 5 calls is back to back when its median gap (a call's start minus the
-- previous end) is at most 10% of its median call, or 100 us for calls under a millisecond.
-- Measured on HotROD under load (tests/test_hotrod_analyses.py): the driver's GetDriver loop
-- leaves a median ~20 us between ~10 ms calls (99.8% of gaps under 1 ms; the rest are pauses of
-- the machine up to 30 ms, which a median ignores); frontend's route calls through a 97%-busy
-- pool of 3 workers a median 62 ms between ~50 ms calls.
--
-- call_patterns (per trace): per call pattern, the most calls one parent made of it and whether
-- its calls overlapped (ran concurrently) in the trace; patterns with 5 or more calls under a
-- parent, or concurrent ones.
--
-- n_plus_one: the runs of patterns that behave as a loop across the data: never concurrent in
-- any trace, and back to back in at least half of the traces where a parent made 5 or more of
-- their calls. An N+1 is in the code, so it shows in every request (HotROD's GetDriver loop:
-- back to back in every trace); code that issues its calls concurrently is a fan-out, also in
-- the traces where a busy pool happened to run them one at a time with no gaps, which timing
-- within one trace cannot tell from a loop. HotROD, -M, 7 clients: 90 of 298 traces held
-- back-to-back runs of 5-10 route calls (in 34 of them no two route calls overlapped), while 175
-- traces show the same calls overlapping. With one route worker (-W 1) route calls never
-- overlap: alone, a request's ten run back to back (flagged, as Jaeger's own -W 1 fixture is
-- labelled), while 5 clients sharing the worker leave gaps in 99 of 100 traces (not flagged).
-- n_plus_one_runs and call_patterns are stored per trace; this runs at query time over the
-- traces queried (a report window: the traces in it).
CREATE OR REPLACE VIEW n_plus_one_runs AS
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

CREATE OR REPLACE VIEW call_patterns AS
SELECT trace_id, caller, caller_operation, callee, callee_operation,
       max(calls) AS calls, bool_or(concurrent) AS concurrent
FROM (
    SELECT trace_id, parent_span_id, caller, caller_operation, callee, callee_operation,
           count(*) AS calls, bool_or(start_time < earlier_end) AS concurrent
    FROM (
        SELECT *,
               max(end_time) OVER (
                   PARTITION BY trace_id, parent_span_id, callee, callee_operation
                   ORDER BY start_time, end_time, span_id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
               ) AS earlier_end
        FROM span_calls
    )
    GROUP BY ALL
)
GROUP BY ALL
HAVING max(calls) >= 5 OR bool_or(concurrent);

CREATE OR REPLACE VIEW n_plus_one AS
WITH patterns AS (
    SELECT caller, caller_operation, callee, callee_operation,
           bool_or(concurrent) AS concurrent,
           count(DISTINCT trace_id) FILTER (WHERE calls >= 5) AS repeated_traces
    FROM call_patterns
    GROUP BY ALL
),
looping AS (
    SELECT caller, caller_operation, service, operation, count(DISTINCT trace_id) AS traces
    FROM n_plus_one_runs
    GROUP BY ALL
)
SELECT r.*
FROM n_plus_one_runs AS r
JOIN looping AS l
  ON l.caller IS NOT DISTINCT FROM r.caller
 AND l.caller_operation IS NOT DISTINCT FROM r.caller_operation
 AND l.service IS NOT DISTINCT FROM r.service AND l.operation IS NOT DISTINCT FROM r.operation
JOIN patterns AS p
  ON p.caller IS NOT DISTINCT FROM r.caller
 AND p.caller_operation IS NOT DISTINCT FROM r.caller_operation
 AND p.callee IS NOT DISTINCT FROM r.service
 AND p.callee_operation IS NOT DISTINCT FROM r.operation
WHERE NOT p.concurrent AND 2 * l.traces >= p.repeated_traces;

CREATE OR REPLACE VIEW n_plus_one_summary AS
SELECT caller, service, operation, count(*) AS runs, count(DISTINCT trace_id) AS traces,
       round(avg(calls), 2) AS mean_calls, max(calls) AS max_calls, sum(wall_us)::BIGINT AS wall_us,
       sum(sum_us)::BIGINT AS sum_us
FROM n_plus_one
GROUP BY caller, service, operation;
