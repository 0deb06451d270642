-- dependencies: caller service -> callee service. A call is a span whose parent (CHILD_OF) or
-- linked producer (span link, e.g. a queue consumer) belongs to another service. Latency is the
-- callee span's duration; caller_p95_us is what the caller's client/producer span saw.

-- cross_service_spans (per trace): every span that does not run under a span of its own
-- service: roots, orphans (parent_found false: the parent never arrived) and children of
-- another service's span, with that parent's service, kind and duration. The one parent join
-- the dependency and per-service latency views need, computed per trace when spans are written.
CREATE OR REPLACE VIEW cross_service_spans AS
SELECT c.trace_id, c.span_id, c.parent_span_id, c.service, c.operation, c.kind, c.start_time,
       c.duration_us, c.status, coalesce(c.status = 'ERROR', false) AS is_error,
       p.span_id IS NOT NULL AS parent_found,
       p.service AS caller_service, p.kind AS caller_kind, p.duration_us AS caller_duration_us
FROM span_rows AS c
LEFT JOIN span_rows AS p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
WHERE c.parent_span_id IS NULL OR p.span_id IS NULL OR p.service IS DISTINCT FROM c.service;

-- dependency_calls (cross-trace through links): one row per call between services.
CREATE OR REPLACE VIEW dependency_calls AS
SELECT caller_service AS caller, service AS callee, 'child_of' AS via, duration_us, status,
       CASE WHEN caller_kind IN ('client', 'producer') THEN caller_duration_us END
           AS caller_duration_us
FROM cross_service_spans
WHERE parent_found
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
