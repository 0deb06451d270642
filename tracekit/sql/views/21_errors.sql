-- Errors: what failed, how (status, HTTP code, exception type) and where each failure began.
--
-- span_errors: every span with its error facts. The HTTP code comes from the current semantic
-- convention (http.response.status_code) or the old one (http.status_code); the exception type
-- from the first "exception" event, else the span's exception.type or error.type attribute.
CREATE OR REPLACE VIEW span_errors AS
SELECT trace_id, span_id, parent_span_id, service, operation, kind, start_time, end_time,
       duration_us, coalesce(status, 'UNSET') AS status,
       coalesce(status = 'ERROR', false) AS is_error,
       conv_http_status(attributes) AS http_status,
       coalesce(exception.attributes['exception.type'], attributes['exception.type'],
                attributes['error.type']) AS exception_type,
       coalesce(nullif(status_message, ''),
                nullif(exception.attributes['exception.message'], ''),
                nullif(attributes['exception.message'], '')) AS error_message
FROM (
    SELECT *, list_filter(events, lambda e: e.name = 'exception')[1] AS exception
    FROM span_rows
);

-- span_error_counts (per trace): per trace, service, operation, dimension ('status',
-- 'http_status', 'exception_type') and value, its spans and how many of them carry status ERROR
-- (value NULL: spans without one, e.g. no HTTP status). Stored per trace when spans are
-- written, so that the breakdown below sums counts instead of reading every span's attributes.
CREATE OR REPLACE VIEW span_error_counts AS
SELECT trace_id, service, operation, dimension, value, count(*) AS spans,
       count(*) FILTER (WHERE is_error) AS errors
FROM (
    SELECT trace_id, service, operation, is_error,
           unnest([{'dimension': 'status', 'value': status},
                   {'dimension': 'http_status', 'value': http_status},
                   {'dimension': 'exception_type', 'value': exception_type}], recursive := true)
    FROM span_errors
)
GROUP BY ALL;

-- error_breakdown(): per service (or service and operation), how its spans split by status,
-- by HTTP status code and by exception type: spans with that value, the share of the group's
-- spans they are, and how many of them carry status ERROR (error_rate = errors / spans).
CREATE OR REPLACE MACRO error_breakdown(by_operation := false) AS TABLE
WITH facts AS (
    SELECT service, CASE WHEN by_operation THEN operation END AS operation, dimension, value,
           sum(spans)::BIGINT AS spans, sum(errors)::BIGINT AS errors
    FROM span_error_counts
    GROUP BY ALL
),
-- every span has a status: a group's spans are its status rows' sum
totals AS (
    SELECT service, operation, sum(spans) AS group_spans
    FROM facts
    WHERE dimension = 'status'
    GROUP BY ALL
)
SELECT f.service, f.operation, f.dimension, f.value, f.spans,
       round(f.spans / t.group_spans, 6) AS share,
       f.errors,
       round(f.errors / f.spans, 6) AS error_rate
FROM facts AS f
JOIN totals AS t
  ON t.service IS NOT DISTINCT FROM f.service AND t.operation IS NOT DISTINCT FROM f.operation
WHERE f.value IS NOT NULL
ORDER BY f.service, f.operation, f.dimension, f.spans DESC, f.value;

CREATE OR REPLACE VIEW errors_by_service AS SELECT * EXCLUDE (operation) FROM error_breakdown();
CREATE OR REPLACE VIEW errors_by_operation AS SELECT * FROM error_breakdown(by_operation := true);

-- error_origins: one row per trace holding an ERROR span, or failed (`traces.failed`): the span
-- where the failure began. `failed` says whether the request failed as its caller saw it.
--  0. In a failed request, errors it recovered from are not its cause: an ERROR span followed by
--     a later call of the same callee under the same parent that succeeded (a retry that worked;
--     `span_calls` says what a call calls), and everything below such a span, are left out. The
--     failed root counts as errored even when only its HTTP status says so. (HotROD: the driver
--     retries each failed Redis GetDriver up to 3 times; in a request that failed, the earlier
--     failed-then-retried calls are not the cause, the driver call that failed three times is.)
--  1. The errored span C without errored children that lies deepest in the tree (roots and
--     orphans have depth 0); when several are equally deep, the earliest-starting (then the
--     lowest span_id). rule = 'deepest_error', or 'earliest_error' when there was a tie.
--  2. Timeout: if C (or a span of C's subtree that ran on until C's end, within 1% of C's
--     duration for clock skew and cancellation) gave up on a child that was still running -
--     the child started before its parent ended and ends after it - then the failure began in
--     that child: the origin is the deepest span below C, reached through such still-running
--     spans, at or below an abandoned child, even though its status is OK. rule = 'timeout'.
--     Messaging hand-offs (producer -> consumer) are asynchronous and never count.
-- Spans on parent cycles are never reached from a root; they count as depth 0 and never make a
-- timeout walk. Per trace.
CREATE OR REPLACE VIEW error_origins AS
WITH RECURSIVE
origin_traces AS MATERIALIZED (
    SELECT trace_id, any_value(failed) AS failed, any_value(span_id) AS root_span_id
    FROM (
        SELECT r.trace_id, r.failed, r.span_id FROM trace_roots AS r WHERE r.failed
        UNION ALL
        SELECT s.trace_id, coalesce(r.failed, false), r.span_id
        FROM (SELECT DISTINCT trace_id FROM span_rows WHERE status = 'ERROR') AS s
        LEFT JOIN trace_roots AS r USING (trace_id)
    )
    GROUP BY trace_id
),
errored_traces AS MATERIALIZED (
    SELECT e.* REPLACE (
               e.is_error OR (o.failed AND e.span_id = o.root_span_id) AS is_error
           ),
           o.failed
    FROM span_errors AS e
    JOIN origin_traces AS o USING (trace_id)
),
-- ERROR calls a later call of the same callee under the same parent made good
recovered AS (
    SELECT DISTINCT x.trace_id, x.span_id
    FROM span_calls AS x
    JOIN span_calls AS y
      ON y.trace_id = x.trace_id AND y.parent_span_id = x.parent_span_id
     AND y.callee IS NOT DISTINCT FROM x.callee
     AND y.callee_operation IS NOT DISTINCT FROM x.callee_operation
     AND y.start_time >= x.end_time AND NOT y.is_error
    WHERE x.is_error AND x.trace_id IN (SELECT trace_id FROM origin_traces WHERE failed)
),
tops AS (
    SELECT s.trace_id, s.span_id
    FROM errored_traces AS s
    LEFT JOIN errored_traces AS p ON p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
    WHERE s.parent_span_id IS NULL OR p.span_id IS NULL
),
-- depth, and whether the span is (under) a recovered call, counted in failed requests only
tree(trace_id, span_id, depth, dismissed) AS (
    SELECT t.trace_id, t.span_id, 0, r.span_id IS NOT NULL
    FROM tops AS t
    LEFT JOIN recovered AS r USING (trace_id, span_id)
    UNION ALL
    SELECT c.trace_id, c.span_id, t.depth + 1, t.dismissed OR r.span_id IS NOT NULL
    FROM tree AS t
    JOIN errored_traces AS c ON c.trace_id = t.trace_id AND c.parent_span_id = t.span_id
    LEFT JOIN recovered AS r ON r.trace_id = c.trace_id AND r.span_id = c.span_id
),
considered AS (
    SELECT e.*, coalesce(t.depth, 0) AS depth, t.depth IS NOT NULL AS in_tree
    FROM errored_traces AS e
    LEFT JOIN tree AS t USING (trace_id, span_id)
    WHERE e.is_error AND NOT (e.failed AND coalesce(t.dismissed, false))
),
errored AS (
    SELECT e.*,
           EXISTS (
               SELECT 1 FROM considered AS c
               WHERE c.trace_id = e.trace_id AND c.parent_span_id = e.span_id
                 AND c.span_id <> e.span_id
           ) AS has_errored_child
    FROM considered AS e
),
ranked AS (
    SELECT *,
           count(*) FILTER (WHERE NOT has_errored_child)
               OVER (PARTITION BY trace_id, depth) AS equally_deep
    FROM errored
),
picked AS (
    SELECT * FROM ranked
    QUALIFY row_number() OVER (
        PARTITION BY trace_id ORDER BY has_errored_child, depth DESC, start_time, span_id
    ) = 1
),
-- Walk down from C through the spans still running when C gave up.
walk(trace_id, span_id, start_time, end_time, kind, level, abandoned, give_up, slack_us) AS (
    SELECT trace_id, span_id, start_time, end_time, kind, 0, false, end_time,
           duration_us // 100
    FROM picked
    WHERE in_tree
    UNION ALL
    SELECT c.trace_id, c.span_id, c.start_time, c.end_time, c.kind, w.level + 1,
           w.abandoned OR (c.start_time < w.end_time AND c.end_time > w.end_time),
           w.give_up, w.slack_us
    FROM walk AS w
    JOIN errored_traces AS c ON c.trace_id = w.trace_id AND c.parent_span_id = w.span_id
    WHERE c.start_time < w.give_up
      AND c.end_time >= w.give_up - to_microseconds(w.slack_us)
      AND coalesce(w.kind, '') <> 'producer'
      AND coalesce(c.kind, '') <> 'consumer'
),
abandoned AS (
    SELECT trace_id, span_id FROM walk
    WHERE abandoned
    QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY level DESC, start_time, span_id) = 1
),
origin AS (
    SELECT p.trace_id,
           coalesce(a.span_id, p.span_id) AS span_id,
           CASE WHEN a.span_id IS NOT NULL THEN 'timeout'
                WHEN p.equally_deep > 1 AND NOT p.has_errored_child THEN 'earliest_error'
                ELSE 'deepest_error' END AS rule,
           p.equally_deep,
           p.failed, p.span_id AS error_span_id, p.service AS error_service,
           p.operation AS error_operation, p.duration_us AS error_duration_us,
           coalesce(p.error_message,
                    CASE WHEN p.exception_type IS NOT NULL THEN p.exception_type END,
                    CASE WHEN p.http_status IS NOT NULL THEN 'HTTP ' || p.http_status END)
               AS error_message
    FROM picked AS p
    LEFT JOIN abandoned AS a USING (trace_id)
)
SELECT o.trace_id, o.span_id, s.service, s.operation,
       CASE o.rule
           WHEN 'timeout' THEN
               'timeout: ' || o.error_service || ' ' || o.error_operation || ' gave up after '
               || round(o.error_duration_us / 1000, 1) || ' ms while this span was still running'
               || coalesce(' (' || o.error_message || ')', '')
           WHEN 'earliest_error' THEN
               'earliest of ' || o.equally_deep || ' deepest errors'
               || coalesce(': ' || o.error_message, '')
           ELSE 'deepest error' || coalesce(': ' || o.error_message, '')
       END AS reason,
       o.rule, s.status, s.start_time, o.error_span_id, o.error_service, o.error_operation,
       o.error_message, o.failed
FROM origin AS o
JOIN errored_traces AS s ON s.trace_id = o.trace_id AND s.span_id = o.span_id
ORDER BY s.start_time, o.trace_id;
