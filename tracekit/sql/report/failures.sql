-- Per trace: did the request fail as its caller saw it (traces.failed), and does it hold an
-- error span (failed or recovered inside).
SELECT trace_id, failed, error_count > 0 AS errored
FROM traces;
