-- capacity_spans: the columns capacity planning reads, scanned from the Parquet files once
-- (work_spans.sql joins them four ways). link is a consumer's first span link (its producer).
CREATE OR REPLACE TEMP TABLE capacity_spans AS
SELECT trace_id, span_id, parent_span_id, service, operation, kind, status,
       start_time, end_time, duration_us,
       coalesce(resource['service.instance.id'], service) AS instance,
       CASE WHEN kind = 'consumer' AND len(links) > 0 THEN links[1] END AS link
FROM span_rows;
