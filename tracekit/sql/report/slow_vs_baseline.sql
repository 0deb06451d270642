-- Which span attribute values are over-represented in slow traces? Traces are compared with
-- traces of the same kind (same root service and operation, at least 20 of them): slow = at
-- least that kind's $quantile of durations, baseline = the rest. Per (service, attribute,
-- value): the share of slow traces and of baseline traces having a span with it. Attributes
-- with more than $max_values distinct values (ids, timestamps) are left out; resource attributes
-- appear as "resource.<key>".
WITH kinds AS (
    SELECT root_service, root_operation, quantile_cont(duration_us, $quantile) AS threshold
    FROM traces
    GROUP BY ALL
    HAVING count(*) >= 20
),
every_trace AS (
    SELECT t.trace_id, t.duration_us >= k.threshold AS slow
    FROM traces AS t
    JOIN kinds AS k
      ON k.root_service IS NOT DISTINCT FROM t.root_service
     AND k.root_operation IS NOT DISTINCT FROM t.root_operation
),
-- Every slow trace, and at most $baseline_sample others picked by a hash of their id (the same
-- ones on every run): the shares are estimates, the attribute scan stays bounded on big windows.
labelled AS (
    SELECT * FROM every_trace WHERE slow
    UNION ALL
    (SELECT * FROM every_trace WHERE NOT slow ORDER BY hash(trace_id) LIMIT $baseline_sample)
),
totals AS (
    SELECT count(*) FILTER (WHERE slow) AS slow_traces,
           count(*) FILTER (WHERE NOT slow) AS baseline_traces
    FROM labelled
),
pairs AS (
    SELECT DISTINCT trace_id, service, entry.key AS attribute, entry.value AS value
    FROM (SELECT trace_id, service, unnest(map_entries(attributes)) AS entry FROM span_rows)
    WHERE trace_id IN (SELECT trace_id FROM labelled)
    UNION
    SELECT DISTINCT trace_id, service, 'resource.' || entry.key, entry.value
    FROM (SELECT trace_id, service, unnest(map_entries(resource)) AS entry FROM span_rows)
    WHERE trace_id IN (SELECT trace_id FROM labelled)
),
small AS (
    SELECT service, attribute FROM pairs GROUP BY ALL
    HAVING count(DISTINCT value) BETWEEN 2 AND $max_values
)
SELECT p.service, p.attribute, p.value,
       count(*) FILTER (WHERE l.slow) AS slow_traces,
       round(count(*) FILTER (WHERE l.slow) / any_value(t.slow_traces), 4) AS slow_share,
       round(count(*) FILTER (WHERE NOT l.slow) / greatest(any_value(t.baseline_traces), 1), 4)
           AS baseline_share,
       round(slow_share - baseline_share, 4) AS difference
FROM pairs AS p
JOIN small USING (service, attribute)
JOIN labelled AS l USING (trace_id)
CROSS JOIN totals AS t
GROUP BY p.service, p.attribute, p.value
HAVING slow_traces > 0
ORDER BY difference DESC, slow_share DESC, p.service, p.attribute, p.value
LIMIT $limit;
