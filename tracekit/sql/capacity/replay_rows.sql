-- The work spans as the replay needs them: numbers and integer keys only (the trace and span
-- ids stay in DuckDB; windows.work_spans orders the rows and resolves caller_key to a row).
-- Reads capacity_work.
SELECT coalesce(service, '') AS service, coalesce(operation, '') AS operation,
       coalesce(instance, '') AS instance, kind, leaf, window_start, arrival_us, start_us,
       duration_us, self_us, inner_wait_us, gap_us, key, caller_key,
       coalesce(call_island, -1) AS call_island, call_end_us
FROM capacity_work;
