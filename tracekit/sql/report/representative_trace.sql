-- A representative slow trace: of the kind of request (root service and operation) that holds
-- the most time in the window, or of the kind given, the trace whose duration is nearest that
-- kind's 95th percentile (slow, but typical of slowness rather than a freak maximum).
WITH kinds AS (
    SELECT root_service, root_operation
    FROM traces
    WHERE has_root
      AND ($root_service IS NULL OR root_service = $root_service)
    GROUP BY ALL
    ORDER BY sum(duration_us) DESC, root_service, root_operation
    LIMIT 1
),
candidates AS (
    SELECT t.trace_id, t.duration_us
    FROM traces AS t
    JOIN kinds USING (root_service, root_operation)
    WHERE t.has_root
),
target AS (
    SELECT quantile_disc(duration_us, 0.95) AS p95_us FROM candidates
)
SELECT c.trace_id, c.duration_us
FROM candidates AS c, target
ORDER BY abs(c.duration_us - target.p95_us), c.trace_id
LIMIT 1;
