-- Telemetry loss: records that never arrived although the work happened (spans dropped by an
-- exporter or a sampler), kept apart from business loss (orders and messages lost), which the
-- funnel and `messages` report.
--
-- Per-trace views (read one trace's spans only): telemetry_loss.

-- telemetry_loss: spans whose parent never arrived ('orphan_span', missing_span_id names the
-- parent) and traces without a root span ('trace_without_root', span_id is the earliest orphan,
-- which stands in as root, as in trace_roots; in a trace whose spans form a parent cycle, so
-- that none is an orphan, its earliest span, with missing_span_id NULL). Telemetry loss, not business loss: the work
-- happened, its record did not arrive. (Read from span_rows directly: one anti-join, so it
-- stays cheap on large datasets.)
CREATE OR REPLACE VIEW telemetry_loss AS
WITH orphans AS MATERIALIZED (
    SELECT s.trace_id, s.span_id, s.service, s.operation, s.parent_span_id, s.start_time
    FROM span_rows AS s
    WHERE s.parent_span_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM span_rows AS p
                      WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id)
),
rootless AS (
    SELECT s.trace_id, s.span_id, s.service, s.operation,
           CASE WHEN o.span_id IS NOT NULL THEN s.parent_span_id END AS parent_span_id,
           s.start_time
    FROM span_rows AS s
    LEFT JOIN orphans AS o USING (trace_id, span_id)
    WHERE NOT EXISTS (SELECT 1 FROM span_rows AS r
                      WHERE r.trace_id = s.trace_id AND r.parent_span_id IS NULL)
    QUALIFY row_number() OVER (
        PARTITION BY s.trace_id ORDER BY o.span_id IS NULL, s.start_time, s.span_id
    ) = 1
)
SELECT 'orphan_span' AS kind, trace_id, span_id, service, operation,
       parent_span_id AS missing_span_id, start_time
FROM orphans
UNION ALL
SELECT 'trace_without_root', trace_id, span_id, service, operation, parent_span_id, start_time
FROM rootless
ORDER BY start_time, trace_id, kind, span_id;
