-- N+1 runs named by who calls whom: the n_plus_one view names the caller (the service of the
-- run's parent span) and what was called (service and operation, as span_calls resolves it:
-- the server span under each call, else the peer). wall_us_per_trace is what the runs cost a
-- trace that has them (their wall time, summed).
SELECT operation AS operation, service AS callee, caller,
       count(*) AS runs,
       count(DISTINCT trace_id) AS traces,
       avg(calls) AS mean_calls,
       max(calls) AS max_calls,
       sum(wall_us) / count(DISTINCT trace_id) AS wall_us_per_trace,
       arg_max(trace_id, calls) AS example_trace_id
FROM n_plus_one
GROUP BY caller, service, operation
ORDER BY traces DESC, wall_us_per_trace DESC, caller, service, operation;
