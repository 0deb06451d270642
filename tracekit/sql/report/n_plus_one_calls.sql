-- N+1 runs named by who calls whom. The caller is the service of the run's parent span; the
-- callee is the service that served the repeated calls (their children in another service),
-- else the repeated spans' own service when it is not the caller's, else the peer they name.
-- wall_us_per_trace is what the runs cost a trace that has them (their wall time, summed).
WITH runs AS (
    SELECT * FROM n_plus_one
),
repeated AS (
    SELECT r.trace_id, r.parent_span_id, r.service, r.operation, s.span_id, s.attributes
    FROM runs AS r
    JOIN span_rows AS s
      ON s.trace_id = r.trace_id AND s.parent_span_id = r.parent_span_id
     AND s.service = r.service AND s.operation = r.operation
),
served AS (
    SELECT rp.trace_id, rp.parent_span_id, rp.service, rp.operation, mode(c.service) AS served_by
    FROM repeated AS rp
    JOIN span_rows AS c
      ON c.trace_id = rp.trace_id AND c.parent_span_id = rp.span_id
     AND c.service IS DISTINCT FROM rp.service
    GROUP BY ALL
),
peers AS (
    SELECT trace_id, parent_span_id, service, operation, mode(conv_peer(attributes)) AS peer
    FROM repeated
    GROUP BY ALL
),
named AS (
    SELECT r.*, p.service AS caller,
           coalesce(sv.served_by,
                    CASE WHEN r.service IS DISTINCT FROM p.service THEN r.service END,
                    pe.peer, r.service) AS callee
    FROM runs AS r
    JOIN span_rows AS p ON p.trace_id = r.trace_id AND p.span_id = r.parent_span_id
    LEFT JOIN served AS sv
           ON sv.trace_id = r.trace_id AND sv.parent_span_id = r.parent_span_id
          AND sv.service = r.service AND sv.operation = r.operation
    LEFT JOIN peers AS pe
           ON pe.trace_id = r.trace_id AND pe.parent_span_id = r.parent_span_id
          AND pe.service = r.service AND pe.operation = r.operation
)
SELECT service, operation, caller, callee,
       count(*) AS runs,
       count(DISTINCT trace_id) AS traces,
       avg(calls) AS mean_calls,
       max(calls) AS max_calls,
       sum(wall_us) / count(DISTINCT trace_id) AS wall_us_per_trace,
       arg_max(trace_id, calls) AS example_trace_id
FROM named
GROUP BY service, operation, caller, callee
ORDER BY traces DESC, wall_us_per_trace DESC, service, operation;
