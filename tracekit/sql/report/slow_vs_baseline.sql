-- Which span attribute values are over-represented in slow traces? Slow = the trace lasted at
-- least the $quantile of trace durations; the rest is the baseline. Per (service, attribute,
-- value): the share of slow traces and of baseline traces having a span with it. Attributes
-- with more than $max_values distinct values (ids, timestamps) are left out; resource attributes
-- appear as "resource.<key>".
WITH cut AS (
    SELECT quantile_cont(duration_us, $quantile) AS threshold FROM traces
),
labelled AS (
    SELECT trace_id, duration_us >= threshold AS slow FROM traces, cut
),
totals AS (
    SELECT count(*) FILTER (WHERE slow) AS slow_traces,
           count(*) FILTER (WHERE NOT slow) AS baseline_traces
    FROM labelled
),
pairs AS (
    SELECT DISTINCT trace_id, service, entry.key AS attribute, entry.value AS value
    FROM (SELECT trace_id, service, unnest(map_entries(attributes)) AS entry FROM spans)
    UNION
    SELECT DISTINCT trace_id, service, 'resource.' || entry.key, entry.value
    FROM (SELECT trace_id, service, unnest(map_entries(resource)) AS entry FROM spans)
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
