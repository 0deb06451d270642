-- Which staged rows a write keeps: those whose (trace_id, span_id) is not stored yet, each key
-- once, the first occurrence in the order the batches were given winning. Only the key columns
-- are read, so this stays cheap however wide the spans are.
CREATE OR REPLACE TEMP TABLE keep_rows AS
SELECT s.filename, s.file_row_number
FROM staged_keys AS s
WHERE NOT EXISTS (
    SELECT 1 FROM stored_keys AS k WHERE k.trace_id = s.trace_id AND k.span_id = s.span_id
)
QUALIFY row_number() OVER (
    PARTITION BY s.trace_id, s.span_id ORDER BY s.filename, s.file_row_number
) = 1;
