-- The per-span facts the per-trace kernel (tracekit/kernel) needs from the semantic conventions
-- and from DuckDB itself, one row per row of `kernel_input`, in its order. The conventions are
-- read through their macros (views/05_conventions.sql, the one place that names convention
-- attributes); the hashes are DuckDB's, as the critical path breaks ties by them.
SELECT hash(trace_id, span_id) AS span_hash,
       CASE WHEN parent_span_id IS NOT NULL THEN hash(trace_id, parent_span_id) END
           AS parent_hash,
       hash(conv_process(service, resource)) AS clock,
       coalesce(len(links) > 0
           AND list_contains(list_transform(links, lambda l: l.span_id), parent_span_id),
           false) AS links_parent,
       -- only a client span's peer is read (its wait is charged to the callee it names)
       CASE WHEN kind = 'client' THEN conv_peer(attributes) END AS peer,
       conv_peer_endpoint(attributes) AS peer_endpoint,
       conv_error_answer(attributes) AS error_answer,
       -- the messages' (views/40_messages.sql, message_spans): what a span does with a message
       -- (NULL: it is no messaging span), where to and which; whether it settles one by
       -- rejecting it
       CASE WHEN kind IN ('producer', 'consumer') OR conv_messaging_system(attributes) IS NOT NULL
            THEN conv_messaging_operation(kind, attributes) END AS message_role,
       CASE WHEN message_role IS NOT NULL THEN conv_destination(attributes) END AS destination,
       CASE WHEN message_role IS NOT NULL THEN conv_message_id(attributes) END AS message_id,
       coalesce(conv_settlement(attributes) = 'reject', false) AS settles_reject
FROM kernel_input
