-- capacity_spans: the columns capacity planning reads, scanned from the Parquet files once.
-- key / parent_key / link_key are 64-bit hashes of (trace_id, span_id) pairs: the joins in
-- work_spans.sql run on one integer instead of two strings (about 2x faster); with n spans a
-- collision has probability about n^2 / 2^65 (3e-8 for a million).
CREATE OR REPLACE TEMP TABLE capacity_spans AS
SELECT trace_id, span_id, service, operation, kind, status, start_time, end_time, duration_us,
       coalesce(resource['service.instance.id'], service) AS instance,
       hash(trace_id, span_id) AS key,
       CASE WHEN parent_span_id IS NOT NULL THEN hash(trace_id, parent_span_id) END
           AS parent_key,
       CASE WHEN kind = 'consumer' AND len(links) > 0
            THEN hash(links[1].trace_id, links[1].span_id) END AS link_key
FROM span_rows;
