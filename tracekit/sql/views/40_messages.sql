-- Messages: every message sent, who took it, how long it waited, and which were never taken.
--
-- Real instrumentation records a message in several shapes: pika's makes two nested PRODUCER
-- spans per publish (the consumer hangs under the inner one), batch senders a `send` span over
-- one `create` span per message; the consumer is the producer's child (pika), a span linking to
-- it (OpenTelemetry's default for new traces), or only carries the same message id. A broker
-- emits no spans: a queue is a destination, never a service. Convention-specific names are read
-- through 05_conventions.sql.
--
-- A message is the innermost send (a `send`/`create` span with no send span of its service
-- below it); the send spans above it that record only it are its wrappers, so a message is one
-- row however deeply its publish was nested. A wrapper of several messages (a batch) is no
-- message of its own.
--
-- Per-trace views (read one trace's spans only; stored per trace when spans are written, see
-- tracekit/per_trace.py): message_producers, consumer_spans, span_links, message_children,
-- message_orphans (message_spans too, but it is not stored: the stored ones carry what the
-- cross-trace views need of it).
-- Cross-trace views (match through links or message ids, or need facts about a destination
-- across all traces; they read the per-trace views only, never every span): message_matches,
-- destination_consumers, message_deliveries, messages, lost_messages, message_waits.

-- message_spans: every span that sends, takes or settles a message: role ('create', 'send',
-- 'receive', 'process', 'settle'), destination and message id in any convention's names.
CREATE OR REPLACE VIEW message_spans AS
SELECT *
FROM (
    SELECT trace_id, span_id, parent_span_id, service, operation, kind, start_time, end_time,
           duration_us, status, attributes, links,
           conv_messaging_operation(kind, attributes) AS role,
           conv_destination(attributes) AS destination,
           conv_message_id(attributes) AS message_id
    FROM span_rows
    WHERE kind IN ('producer', 'consumer') OR conv_messaging_system(attributes) IS NOT NULL
)
WHERE role IS NOT NULL;

-- message_producers: every send span with the message it records (message_span_id, the
-- innermost send below it; NULL for a wrapper of several messages) and its depth above it.
CREATE OR REPLACE VIEW message_producers AS
WITH RECURSIVE
sends AS MATERIALIZED (
    SELECT * FROM message_spans WHERE role IN ('create', 'send')
),
innermost AS (
    SELECT s.* FROM sends AS s
    WHERE NOT EXISTS (SELECT 1 FROM sends AS c
                      WHERE c.trace_id = s.trace_id AND c.parent_span_id = s.span_id
                        AND c.service IS NOT DISTINCT FROM s.service)
),
up(trace_id, span_id, parent_span_id, service, message_span_id, depth) AS (
    SELECT trace_id, span_id, parent_span_id, service, span_id, 0 FROM innermost
    UNION ALL
    SELECT p.trace_id, p.span_id, p.parent_span_id, p.service, u.message_span_id, u.depth + 1
    FROM up AS u
    JOIN sends AS p ON p.trace_id = u.trace_id AND p.span_id = u.parent_span_id
                   AND p.service IS NOT DISTINCT FROM u.service
    WHERE u.depth < 8  -- parent cycles in bad data end here
),
owners AS (
    SELECT trace_id, span_id,
           CASE WHEN count(DISTINCT message_span_id) = 1 THEN min(message_span_id) END
               AS message_span_id,
           max(depth) AS depth
    FROM up
    GROUP BY trace_id, span_id
)
SELECT s.trace_id, s.span_id, s.parent_span_id, s.service, s.operation, s.start_time, s.end_time,
       s.destination, s.message_id, s.status, o.message_span_id, o.depth
FROM sends AS s
JOIN owners AS o USING (trace_id, span_id);

-- consumer_spans: spans that take a message ('receive', 'process'), with `failed`: the consumer's
-- handling of the message failed. A consumer answers nobody, so the only record of a refusal is
-- an error: the consumer span's own (an exception escaped the handler), or one in the work of
-- its service below it (the handler caught it and rejected the message quietly), or a
-- settlement that rejects the message (nack, dead letter).
CREATE OR REPLACE VIEW consumer_spans AS
WITH RECURSIVE
takers AS MATERIALIZED (
    SELECT * FROM message_spans WHERE role IN ('receive', 'process')
),
-- The walk below only ever meets spans of the consuming services: reading just those keeps
-- each step a small join (a day of queue-loss: 15k of 216k spans).
work AS MATERIALIZED (
    SELECT trace_id, span_id, parent_span_id, service,
           status = 'ERROR' OR coalesce(conv_settlement(attributes) = 'reject', false) AS failed
    FROM span_rows
    WHERE service IN (SELECT service FROM takers) AND parent_span_id IS NOT NULL
),
below(trace_id, consumer_span_id, span_id, service, failed, depth) AS (
    SELECT trace_id, span_id, span_id, service, false, 0 FROM takers
    UNION ALL
    SELECT b.trace_id, b.consumer_span_id, c.span_id, c.service, c.failed, b.depth + 1
    FROM below AS b
    JOIN work AS c ON c.trace_id = b.trace_id AND c.parent_span_id = b.span_id
                  AND c.service IS NOT DISTINCT FROM b.service
    WHERE b.depth < 8
),
failed_below AS (
    SELECT trace_id, consumer_span_id AS span_id, bool_or(failed) AS failed
    FROM below
    WHERE depth > 0
    GROUP BY ALL
)
SELECT t.trace_id, t.span_id, t.parent_span_id, t.service, t.operation, t.role, t.destination,
       t.message_id, t.start_time, t.end_time, t.duration_us,
       t.status = 'ERROR' OR conv_error_answer(t.attributes) OR coalesce(f.failed, false)
           AS failed
FROM takers AS t
LEFT JOIN failed_below AS f USING (trace_id, span_id);

-- Whether a span's handling of a message it took failed: consumer_failed (its consumer_spans
-- row's `failed`; NULL for a span that is no consumer span), else its own status or answer.
CREATE OR REPLACE MACRO taker_failed(status, attributes, consumer_failed) AS
    coalesce(consumer_failed, status = 'ERROR' OR conv_error_answer(attributes));

-- span_links: one row per link of a span (per trace: the linking span's trace), with the
-- linking span's service, kind, times and `failed` (taker_failed) and the span it links to
-- (linked_trace_id, linked_span_id), so that what follows links across traces never reads
-- every span again.
CREATE OR REPLACE VIEW span_links AS
SELECT s.trace_id, s.span_id, s.service, s.operation, s.kind, s.start_time, s.end_time,
       s.duration_us, taker_failed(s.status, s.attributes, k.failed) AS failed,
       s.link.trace_id AS linked_trace_id, s.link.span_id AS linked_span_id
FROM (SELECT *, unnest(links) AS link FROM span_rows WHERE len(links) > 0) AS s
LEFT JOIN consumer_spans AS k USING (trace_id, span_id);

-- message_children (per trace): the spans that took a message as the child of one of its send
-- spans (a consumer, or another service's span: pika's shape), with the destination that send
-- names and the taking span's record.
CREATE OR REPLACE VIEW message_children AS
SELECT s.trace_id, s.message_span_id AS span_id, s.destination, c.trace_id AS consumer_trace_id,
       c.span_id AS consumer_span_id, c.service AS consumer_service,
       c.operation AS consumer_operation, c.start_time AS consumer_start,
       c.end_time AS consumer_end, c.duration_us AS consumer_us,
       taker_failed(c.status, c.attributes, k.failed) AS consumer_failed
FROM span_rows AS c
JOIN message_producers AS s ON s.trace_id = c.trace_id AND s.span_id = c.parent_span_id
LEFT JOIN consumer_spans AS k ON k.trace_id = c.trace_id AND k.span_id = c.span_id
WHERE s.message_span_id IS NOT NULL AND (c.kind = 'consumer' OR c.service IS DISTINCT FROM s.service);

-- message_orphans (per trace): per message, the orphans of its trace (spans whose parent never
-- arrived) that started at or after its send, with their record: when a consumer span was lost
-- as telemetry its children remain as such orphans. Which of them took the message depends on
-- which services consume its destination anywhere in the data (message_deliveries).
CREATE OR REPLACE VIEW message_orphans AS
SELECT m.trace_id, m.span_id, m.destination, o.trace_id AS consumer_trace_id,
       o.span_id AS consumer_span_id, o.service AS consumer_service,
       o.operation AS consumer_operation, o.start_time AS consumer_start,
       o.end_time AS consumer_end, o.duration_us AS consumer_us,
       taker_failed(o.status, o.attributes, k.failed) AS consumer_failed
FROM message_producers AS m
JOIN span_rows AS o ON o.trace_id = m.trace_id AND o.start_time >= m.start_time
LEFT JOIN consumer_spans AS k ON k.trace_id = o.trace_id AND k.span_id = o.span_id
WHERE m.span_id = m.message_span_id AND m.destination IS NOT NULL AND o.service IS NOT NULL
  AND o.parent_span_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM span_rows AS q
                  WHERE q.trace_id = o.trace_id AND q.span_id = o.parent_span_id);

-- message_matches: evidence that a span took a message, with the message's destination and the
-- taking span's record: it is the child of one of the message's send spans ('parent',
-- message_children), it links to one of them and is no producer ('link'), or it is a consumer
-- span carrying the message's id ('message_id'). A consumer span takes one message: one that
-- took a message by parent or link is matched by nothing else. Message ids are reused (an
-- application's order number as id, a resend, a replayed day), so a consumer span matches by id
-- only the messages with that id sent last at or before its start (the earliest sent after it
-- only when none was sent before: clock skew between hosts). An id sent N times and taken N
-- times is N matches, not N x N. Reads the per-trace views only.
CREATE OR REPLACE VIEW message_matches AS
WITH sends AS MATERIALIZED (
    SELECT * FROM message_producers WHERE message_span_id IS NOT NULL
),
structural AS MATERIALIZED (
    SELECT trace_id, span_id, destination, consumer_trace_id, consumer_span_id,
           consumer_service, 'parent' AS matched_by, consumer_operation, consumer_start,
           consumer_end, consumer_us, consumer_failed
    FROM message_children
    UNION ALL
    SELECT s.trace_id, s.message_span_id, s.destination, c.trace_id, c.span_id, c.service,
           'link', c.operation, c.start_time, c.end_time, c.duration_us, c.failed
    FROM span_links AS c
    JOIN sends AS s ON s.trace_id = c.linked_trace_id AND s.span_id = c.linked_span_id
    WHERE c.kind IS DISTINCT FROM 'producer'
),
-- by id: the consumer spans that carry one and took no message by parent or link
unplaced AS (
    SELECT c.*
    FROM consumer_spans AS c
    ANTI JOIN structural AS m
           ON m.consumer_trace_id = c.trace_id AND m.consumer_span_id = c.span_id
    WHERE c.message_id IS NOT NULL
),
ids AS MATERIALIZED (
    SELECT DISTINCT trace_id, message_span_id, message_id, destination,
           min(start_time) OVER (PARTITION BY trace_id, message_span_id) AS sent_at
    FROM sends
    WHERE message_id IN (SELECT message_id FROM unplaced)
),
sendings AS (
    SELECT DISTINCT message_id, sent_at FROM ids
),
id_takers AS (
    SELECT c.*, coalesce(b.sent_at, a.sent_at) AS sent_at
    FROM unplaced AS c
    ASOF LEFT JOIN sendings AS b ON b.message_id = c.message_id AND c.start_time >= b.sent_at
    ASOF LEFT JOIN sendings AS a ON a.message_id = c.message_id AND c.start_time < a.sent_at
)
SELECT * FROM structural
UNION ALL
SELECT i.trace_id, i.message_span_id, i.destination, c.trace_id, c.span_id, c.service,
       'message_id', c.operation, c.start_time, c.end_time, c.duration_us, c.failed
FROM id_takers AS c
JOIN ids AS i ON i.message_id = c.message_id AND i.sent_at = c.sent_at;

-- destination_consumers: which services consume each destination: the destinations consumer
-- spans name, and the destinations of the messages they were matched to (a producer and its
-- consumer may name one queue differently, e.g. exchange and queue).
CREATE OR REPLACE VIEW destination_consumers AS
SELECT DISTINCT destination, service
FROM (
    SELECT destination, service FROM consumer_spans
    UNION ALL
    SELECT destination, consumer_service FROM message_matches
)
WHERE destination IS NOT NULL AND service IS NOT NULL;

-- message_deliveries: one row per message and span that took it (the best evidence when several
-- say so), with the taking span's service, operation, times and consumer_failed: its handling
-- failed (consumer_spans.failed for a consumer span, else the span's own status or answer).
-- When a consumer span was itself lost as telemetry its children remain as orphans in the
-- producer's trace: an orphan of a service that consumes the message's destination, starting
-- after the send, is taken as delivery too ('orphan'; consumer_span_id is then the orphan's).
CREATE OR REPLACE VIEW message_deliveries AS
WITH matches AS MATERIALIZED (
    SELECT * FROM message_matches
),
-- destination_consumers, from the matches at hand (the view would match every message again:
-- ~1 s of 4.5 s on a simulated day).
consuming AS (
    SELECT destination, service FROM consumer_spans
    UNION
    SELECT destination, consumer_service FROM matches
),
found AS (
    SELECT * FROM matches
    UNION ALL
    SELECT o.trace_id, o.span_id, o.destination, o.consumer_trace_id, o.consumer_span_id,
           o.consumer_service, 'orphan', o.consumer_operation, o.consumer_start, o.consumer_end,
           o.consumer_us, o.consumer_failed
    FROM message_orphans AS o
    SEMI JOIN consuming AS dc
           ON dc.destination = o.destination AND dc.service = o.consumer_service
)
SELECT trace_id, span_id, consumer_trace_id, consumer_span_id, consumer_service, matched_by,
       consumer_operation, consumer_start, consumer_end, consumer_us, consumer_failed
FROM found
QUALIFY row_number() OVER (
    PARTITION BY trace_id, span_id, consumer_trace_id, consumer_span_id
    ORDER BY list_position(['parent', 'link', 'message_id', 'orphan'], matched_by)
) = 1;

-- messages: one row per message: who sent it where, and its fate. outcome: 'handled' (a span
-- took it and its handling did not fail), 'failed' (every span that took it failed: a refusal
-- or an error was observed), 'lost' (nothing shows anyone took it). For lost messages, certain is TRUE when the loss is a
-- fact of the data (reason 'send_failed': the send itself failed; 'no_consumer': nobody
-- consumed that destination anywhere in the data) and FALSE when the destination's consumers
-- were at work but nothing shows one took this message (reason 'not_seen': lost, or its
-- consumer's telemetry is missing). The first delivery is the earliest consumer span (an
-- orphan only when no consumer span survived).
CREATE OR REPLACE VIEW messages AS
WITH producers AS MATERIALIZED (
    SELECT * FROM message_producers WHERE message_span_id IS NOT NULL
),
nests AS (
    SELECT trace_id, message_span_id AS span_id,
           arg_max(span_id, depth) AS outer_span_id,
           min(start_time) AS sent_at,
           bool_or(status = 'ERROR') AS send_failed,
           any_value(message_id) FILTER (WHERE message_id IS NOT NULL) AS message_id,
           any_value(destination) FILTER (WHERE destination IS NOT NULL) AS destination
    FROM producers
    GROUP BY trace_id, message_span_id
),
deliveries AS MATERIALIZED (
    SELECT trace_id, span_id,
           count(*) AS deliveries,  -- one row per taking span
           bool_or(NOT consumer_failed) AS handled,
           arg_min({'consumer_trace_id': consumer_trace_id, 'consumer_span_id': consumer_span_id,
                    'consumer_service': consumer_service, 'matched_by': matched_by,
                    'consumer_start': consumer_start, 'consumer_us': consumer_us,
                    'consumer_operation': consumer_operation},
                   (matched_by = 'orphan', consumer_start, consumer_span_id)) AS first
    FROM message_deliveries
    GROUP BY trace_id, span_id
),
-- The destinations destination_consumers lists, from the deliveries at hand (the view would
-- match every message again: 2.9 s of 7.5 s on a day of queue-loss).
consumed AS (
    SELECT destination FROM consumer_spans
    UNION
    SELECT p.destination
    FROM deliveries AS d
    JOIN producers AS p USING (trace_id, span_id)
    WHERE d.first.matched_by <> 'orphan'
)
SELECT m.trace_id, m.span_id, n.outer_span_id, m.service, m.operation,
       coalesce(m.destination, n.destination) AS destination,
       coalesce(m.message_id, n.message_id) AS message_id,
       n.sent_at, m.end_time AS published_at,
       coalesce(d.deliveries, 0) AS deliveries,
       CASE WHEN d.deliveries IS NULL THEN 'lost' WHEN d.handled THEN 'handled' ELSE 'failed' END
           AS outcome,
       CASE WHEN d.deliveries IS NOT NULL THEN NULL
            WHEN n.send_failed THEN 'send_failed'
            WHEN coalesce(m.destination, n.destination) NOT IN (SELECT destination FROM consumed)
                THEN 'no_consumer'
            ELSE 'not_seen' END AS reason,
       d.first.consumer_trace_id, d.first.consumer_span_id, d.first.consumer_service,
       d.first.matched_by, d.first.consumer_start AS consumed_at, d.first.consumer_us,
       d.first.consumer_operation
FROM producers AS m
JOIN nests AS n ON n.trace_id = m.trace_id AND n.span_id = m.span_id
LEFT JOIN deliveries AS d ON d.trace_id = m.trace_id AND d.span_id = m.span_id
WHERE m.span_id = m.message_span_id;

-- lost_messages: messages nothing shows anyone took, one row per message; certain as in
-- `messages` (reason says why). Messages sent just before the end of the data may simply not
-- have been taken yet.
CREATE OR REPLACE VIEW lost_messages AS
SELECT trace_id, span_id, service, destination, message_id, sent_at AS start_time,
       reason IN ('send_failed', 'no_consumer') AS certain, reason, outer_span_id
FROM messages
WHERE outcome = 'lost'
ORDER BY start_time, trace_id, span_id;

-- message_waits: per message a consumer span took, the wait in the broker: from the end of the
-- send that handed it over (the innermost send span) to the start of the first consumer span
-- (wait_us; negative only under clock skew between hosts), that span's duration
-- (consumer_us), and the operations of the send and of the consumer span.
CREATE OR REPLACE VIEW message_waits AS
SELECT trace_id, span_id, consumer_trace_id, consumer_span_id, destination, service,
       consumer_service, published_at, consumed_at,
       epoch_us(consumed_at) - epoch_us(published_at) AS wait_us, consumer_us, operation,
       consumer_operation
FROM messages
WHERE consumer_span_id IS NOT NULL AND matched_by <> 'orphan';
