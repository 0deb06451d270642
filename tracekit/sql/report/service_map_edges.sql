-- The service map's edges: every traced call between two services (the dependencies view), plus
-- calls into services that emit no spans of their own: client spans naming a peer that never
-- appears as a service in the window and has no span under them (`untraced`).
SELECT caller, callee, calls, errors, error_rate, p50_us, p95_us,
       list_contains(via, 'link') AND NOT list_contains(via, 'child_of') AS async,
       false AS untraced
FROM dependencies
UNION ALL
SELECT s.service AS caller, conv_peer(s.attributes) AS callee, count(*) AS calls,
       count(*) FILTER (WHERE s.status = 'ERROR') AS errors,
       round(count(*) FILTER (WHERE s.status = 'ERROR') / count(*), 6) AS error_rate,
       quantile_cont(s.duration_us, 0.5) AS p50_us,
       quantile_cont(s.duration_us, 0.95) AS p95_us,
       false AS async,
       true AS untraced
FROM span_rows AS s
WHERE s.kind = 'client'
  AND conv_peer(s.attributes) IS NOT NULL
  AND conv_peer(s.attributes) NOT IN (SELECT DISTINCT service FROM span_rows WHERE service IS NOT NULL)
  AND NOT EXISTS (
      SELECT 1 FROM span_rows AS c WHERE c.trace_id = s.trace_id AND c.parent_span_id = s.span_id)
GROUP BY s.service, conv_peer(s.attributes)
ORDER BY calls DESC, caller, callee;
