-- dependencies: caller service -> callee service. A call is a span whose parent (CHILD_OF) or
-- linked producer (span link, e.g. a queue consumer) belongs to another service. Latency is the
-- callee span's duration; caller_p95_us is what the caller's client/producer span saw.
CREATE OR REPLACE VIEW dependency_calls AS
SELECT p.service AS caller, c.service AS callee, 'child_of' AS via,
       c.duration_us, c.status, CASE WHEN p.kind IN ('client', 'producer') THEN p.duration_us END
           AS caller_duration_us
FROM span_rows AS c
JOIN span_rows AS p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
WHERE p.service IS DISTINCT FROM c.service
UNION ALL
SELECT p.service, c.service, 'link', c.duration_us, c.status, p.duration_us
FROM (SELECT *, unnest(links) AS link FROM span_rows WHERE len(links) > 0) AS c
JOIN span_rows AS p ON p.trace_id = c.link.trace_id AND p.span_id = c.link.span_id
WHERE p.service IS DISTINCT FROM c.service
  AND c.parent_span_id IS DISTINCT FROM p.span_id;

CREATE OR REPLACE VIEW dependencies AS
SELECT caller, callee,
       count(*) AS calls,
       count(*) FILTER (WHERE status = 'ERROR') AS errors,
       round(count(*) FILTER (WHERE status = 'ERROR') / count(*), 6) AS error_rate,
       quantile_cont(duration_us, 0.5) AS p50_us,
       quantile_cont(duration_us, 0.95) AS p95_us,
       quantile_cont(caller_duration_us, 0.95) AS caller_p95_us,
       list_sort(list_distinct(list(via))) AS via
FROM dependency_calls
GROUP BY caller, callee;
