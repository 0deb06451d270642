-- Waiting recorded inside spans: per service, the share of its spans carrying an event that
-- names a lock or a wait (e.g. HotROD's mysql logs "Waiting for lock behind 2 transactions"),
-- and the most common such event. Time inside a span is the service's own, but when its spans
-- say they wait for a lock or a pool, that time is contention rather than work.
WITH marked AS (
    SELECT s.service, s.span_id, s.trace_id,
           list_filter(s.events, lambda e: e.name ILIKE '%lock%' OR e.name ILIKE '%wait%'
                                     OR e.name ILIKE '%contention%') AS waits
    FROM span_rows AS s
)
SELECT service,
       count(*) FILTER (WHERE len(waits) > 0) / count(*) AS span_share,
       mode(waits[1].name) FILTER (WHERE len(waits) > 0) AS example_event
FROM marked
GROUP BY service
HAVING count(*) FILTER (WHERE len(waits) > 0) > 0
ORDER BY service;
