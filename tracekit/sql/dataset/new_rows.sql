-- Rows of the staged batch that are not stored yet, each (trace_id, span_id) once:
-- the first occurrence in the order the batches were given wins.
CREATE OR REPLACE TEMP VIEW new_rows AS
SELECT * EXCLUDE (filename, file_row_number)
FROM staged_ordered AS s
WHERE NOT EXISTS (
    SELECT 1 FROM stored_keys AS k WHERE k.trace_id = s.trace_id AND k.span_id = s.span_id
)
QUALIFY row_number() OVER (
    PARTITION BY s.trace_id, s.span_id ORDER BY s.filename, s.file_row_number
) = 1;
