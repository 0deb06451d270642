-- Span outcomes: the spans that show a request reached a service, and how it went there (the
-- funnel's evidence, docs/analytics.md "Funnel").
--
-- Per-trace views (stored per trace when spans are written): span_outcomes.

-- span_outcomes: where requests enter a service (is_entry: entry_spans) and client spans that
-- name the service they call (peer: conv_peer), with `failed` (the span's handling failed:
-- taker_failed, its own status or answer, for a consumer span its handling of the message) and
-- `call_failed` (the span's own status or answer: the call as its caller saw it).
CREATE OR REPLACE VIEW span_outcomes AS
SELECT s.trace_id, s.span_id, s.service, s.operation, s.kind, e.span_id IS NOT NULL AS is_entry,
       CASE WHEN s.kind = 'client' THEN conv_peer(s.attributes) END AS peer,
       taker_failed(s.status, s.attributes, k.failed) AS failed,
       s.status = 'ERROR' OR conv_error_answer(s.attributes) AS call_failed
FROM span_rows AS s
LEFT JOIN entry_spans AS e USING (trace_id, span_id)
LEFT JOIN consumer_spans AS k USING (trace_id, span_id)
WHERE e.span_id IS NOT NULL OR (s.kind = 'client' AND conv_peer(s.attributes) IS NOT NULL);
