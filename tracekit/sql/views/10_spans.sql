-- spans: the stored rows plus self_us, a span's duration minus the union of its children's
-- intervals, each child clipped to the span's window (children wholly outside count nothing).
-- Equal clipped intervals are one (DISTINCT): two windows below sort them apart, and tied rows
-- may come in another order in each, which counted a shared interval twice.
CREATE OR REPLACE VIEW span_self_time AS
WITH child AS (
    SELECT DISTINCT p.trace_id, p.span_id,
           greatest(c.start_time, p.start_time) AS child_start,
           least(c.end_time, p.end_time) AS child_end
    FROM span_rows AS p
    JOIN span_rows AS c ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
    WHERE c.end_time > p.start_time AND c.start_time < p.end_time
),
marked AS (
    SELECT *,
           max(child_end) OVER (
               PARTITION BY trace_id, span_id ORDER BY child_start, child_end
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS covered_until
    FROM child
),
islands AS (
    SELECT *,
           sum(CASE WHEN covered_until IS NULL OR child_start > covered_until THEN 1 ELSE 0 END)
               OVER (PARTITION BY trace_id, span_id ORDER BY child_start, child_end
                     ROWS UNBOUNDED PRECEDING) AS island
    FROM marked
)
SELECT trace_id, span_id, sum(island_us)::BIGINT AS covered_us
FROM (
    SELECT trace_id, span_id, island,
           epoch_us(max(child_end)) - epoch_us(min(child_start)) AS island_us
    FROM islands
    GROUP BY trace_id, span_id, island
)
GROUP BY trace_id, span_id;

-- A scalar subquery rather than a join: DuckDB prunes it when a query does not read self_us,
-- so `spans` costs no more than `span_rows` for everything else.
CREATE OR REPLACE VIEW spans AS
SELECT r.*,
       r.duration_us - coalesce((
           SELECT t.covered_us FROM span_self_time AS t
           WHERE t.trace_id = r.trace_id AND t.span_id = r.span_id
       ), 0) AS self_us
FROM span_rows AS r;
