-- The work spans as the replay needs them, in start order: row_id, the row of the work span that
-- made the call (caller_row, NULL for entries and messages), and the numbers. Trace and span ids
-- stay in DuckDB: resolving the caller here saves moving a million strings into Python.
-- Reads capacity_work.
WITH numbered AS (
    SELECT *, row_number() OVER (ORDER BY start_us, key) - 1 AS row_id
    FROM capacity_work
)
SELECT n.row_id, coalesce(n.service, '') AS service, coalesce(n.operation, '') AS operation,
       n.window_start, n.duration_us, n.gap_us,
       c.row_id AS caller_row
FROM numbered AS n
LEFT JOIN numbered AS c ON c.key = n.caller_key
ORDER BY n.row_id;
