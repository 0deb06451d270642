-- capacity_spans: the columns capacity planning reads, scanned from the Parquet files once, with
-- each span's stored self time (the `spans` view's self_us: one definition of self time).
-- key / parent_key are 64-bit hashes of (trace_id, span_id) pairs: the joins in work_spans.sql
-- run on one integer instead of two strings (about 2x faster); with n spans a collision has
-- probability about n^2 / 2^65 (3e-8 for a million).
--   acquired_us  when the span's work got a lock it had to wait for, from the events
--                instrumentation writes around a lock (HotROD's tracing.Mutex logs "Waiting for
--                lock behind N transactions" and "Acquired lock; N transactions waiting
--                behind"): the time before it is waiting, the time after it is service
--   leaf_name    for a CLIENT span, what it calls as the caller names it: the database system,
--                else the peer (a client span whose callee emits no spans, e.g. a database, is
--                that component's only record of its work; see work_spans.sql)
CREATE OR REPLACE TEMP TABLE capacity_spans AS
SELECT trace_id, span_id, service, operation, kind, status, start_time, end_time, duration_us,
       self_us,
       coalesce(resource['service.instance.id'], service) AS instance,
       hash(trace_id, span_id) AS key,
       CASE WHEN parent_span_id IS NOT NULL THEN hash(trace_id, parent_span_id) END
           AS parent_key,
       CASE WHEN len(events) > 0 THEN (
           SELECT max(epoch_us(e.time)) FROM unnest(events) AS t(e)
           WHERE lower(e.name) LIKE '%acquired%lock%' OR lower(e.name) LIKE '%lock%acquired%'
       ) END AS acquired_us,
       CASE WHEN kind = 'client' THEN coalesce(conv_db_system(attributes), conv_peer(attributes)) END
           AS leaf_name
FROM spans;
