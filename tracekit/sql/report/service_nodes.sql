-- The service map's nodes: per service, the requests that entered it (latency_by_service's
-- entry spans) with their errors and p95, and the traces it started (entry service).
WITH entries AS (
    SELECT root_service AS service, count(*) AS traces_started
    FROM traces
    GROUP BY root_service
)
SELECT l.service, l.spans AS requests, l.errors, l.error_rate, l.p95_us,
       coalesce(e.traces_started, 0) AS traces_started
FROM latency_by_service AS l
LEFT JOIN entries AS e USING (service)
ORDER BY l.service;
