-- Per service, attribute key and value (resource attributes as "resource.<key>"): the traces
-- carrying it in the window. Keys with more than $max_values values in a service (ids, URLs with
-- ids) and the service's own name (resource.service.name, or any value equal to the service)
-- say nothing about why a window differs and are left out.
WITH pairs AS (
    SELECT DISTINCT service, trace_id, entry.key AS key, entry.value AS value
    FROM (SELECT service, trace_id, unnest(map_entries(attributes)) AS entry FROM span_rows)
    UNION
    SELECT DISTINCT service, trace_id, 'resource.' || entry.key, entry.value
    FROM (SELECT service, trace_id, unnest(map_entries(resource)) AS entry FROM span_rows)
),
kept AS (
    SELECT service, key
    FROM pairs
    GROUP BY service, key
    HAVING count(DISTINCT value) <= $max_values
)
SELECT p.service, p.key, p.value, count(DISTINCT p.trace_id) AS traces
FROM pairs AS p
SEMI JOIN kept AS k ON k.service IS NOT DISTINCT FROM p.service AND k.key = p.key
WHERE p.key NOT IN ('resource.service.name', 'service.name')
  AND p.value IS DISTINCT FROM p.service
GROUP BY p.service, p.key, p.value
ORDER BY traces DESC, p.service, p.key, p.value;
