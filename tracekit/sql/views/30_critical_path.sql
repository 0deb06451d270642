-- critical_path: one row per critical-path segment of every trace (trace_id, span_id, service,
-- operation, kind, start_time, end_time, duration_us); per trace the segments tile the root span
-- (the `trace_roots` rule: earliest span without a parent, else earliest orphan) exactly.
--
-- Semantics (CRISP's; docs/analytics.md "Critical path"): walk back from the end of a span
-- through its last-finishing child, then through the last-finishing child that ends at or
-- before that child's start, and so on; what no critical child covers is the span's own time.
-- Children are clipped to their parent's window (dropped when entirely outside or zero-length
-- there). Consumers of a producer and spans linking to their parent (FOLLOWS_FROM) do not block
-- it and are not children here. Two siblings that overlap by less than 1% of the parent's
-- duration, with no other sibling starting or ending in the overlap, count as sequential (clock
-- skew): the earlier one keeps its whole duration and the overlap is taken from the parent's own
-- time, by shifting the earlier sibling (and its subtree) back in the output. Segments are
-- finally cut to the windows of all their ancestors, so the tiling stays exact when children
-- overflow their parents. Children ending together: the earliest start is taken first (then the
-- earliest and longest before clipping, then the smaller hash of the ids, so reruns agree).
--
-- How it runs (benchmarks/bench_critical_path.py): spans are keyed by 64-bit hashes of
-- (trace_id, span_id) and a row number, so the heavy steps sort and join integers. One window
-- pass over the children's start and end events, ordered by time per parent, precomputes every
-- step of every walk (a parent's first child; a child's next child); the recursive part only
-- follows those pointers, all traces in lockstep, and also emits the segments above each
-- walked child (those below the last child come from one aggregate). Each span has one parent,
-- so a walk from a root never meets a span twice: parent cycles are unreachable and the
-- recursion ends.
-- Duplicate span ids (rows from older tools; the dataset itself de-duplicates) could give a
-- span two parents, so when there are any, the rows are first reduced to one per span id (the
-- longest); clean data skips that work after a distinct count.
CREATE OR REPLACE VIEW critical_path_walk AS
WITH RECURSIVE
raw AS MATERIALIZED (
    SELECT row_number() OVER () AS nid,
           hash(trace_id, span_id) AS k,
           CASE WHEN parent_span_id IS NOT NULL THEN hash(trace_id, parent_span_id) END AS pk,
           CASE kind WHEN 'consumer' THEN 1 WHEN 'producer' THEN 2 ELSE 0 END AS kind_code,
           epoch_us(start_time) AS s, epoch_us(end_time) AS e,
           coalesce(len(links) > 0
               AND list_contains(list_transform(links, lambda l: l.span_id), parent_span_id),
               false) AS links_parent,
           hash(conv_process(service, resource)) AS clock,
           trace_id, span_id, service, operation, kind
    FROM span_rows
),
raw_pairs AS MATERIALIZED (
    SELECT c.nid, c.k, c.pk, c.s, c.e, c.kind_code, c.links_parent, c.clock,
           p.nid AS parent_nid, p.s AS ps, p.e AS pe, p.kind_code AS parent_kind_code
    FROM raw AS c
    LEFT JOIN raw AS p ON p.k = c.pk
),
duplicated AS MATERIALIZED (
    SELECT count(DISTINCT k) <> count(*) AS yes FROM raw
),
deduped AS MATERIALIZED (
    SELECT nid, k, pk, kind_code, s, e, links_parent, clock FROM raw
    WHERE (SELECT yes FROM duplicated)
    QUALIFY row_number() OVER (PARTITION BY k ORDER BY e - s DESC, s, pk NULLS FIRST, nid) = 1
),
pairs AS (
    SELECT * FROM raw_pairs WHERE NOT (SELECT yes FROM duplicated)
    UNION ALL
    SELECT c.nid, c.k, c.pk, c.s, c.e, c.kind_code, c.links_parent, c.clock, p.nid, p.s, p.e,
           p.kind_code
    FROM deduped AS c
    LEFT JOIN deduped AS p ON p.k = c.pk
),
children AS MATERIALIZED (
    SELECT nid, k, parent_nid, s, e, greatest(s, ps) AS cs, least(e, pe) AS ce,
           pe - ps AS parent_us, clock
    FROM pairs
    WHERE parent_nid IS NOT NULL AND nid <> parent_nid
      AND least(e, pe) > greatest(s, ps)
      AND NOT links_parent
      AND NOT (kind_code = 1 AND parent_kind_code = 2)
),
root_candidates AS MATERIALIZED (
    SELECT nid, pk, s, e FROM pairs WHERE parent_nid IS NULL
),
-- Per parent, the children's end and start events by time; at one instant ends come first
-- (ending at another's start counts as before), and among equal ends the preferred child comes
-- last. For a child's start event, the plain next child is the last end event so far; the skew next child is the very next event when that is the end of a
-- sibling that started earlier, comes less than 1% of the parent's duration later and shares
-- neither instant with another event (CRISP: exactly two events in the overlap). A parent's
-- last event is the end of its first (last-finishing) child.
-- Only children need no window: their parent's first child is them, and they have no next.
families AS MATERIALIZED (
    SELECT parent_nid, count(*) AS children FROM children GROUP BY parent_nid
),
siblings AS MATERIALIZED (
    SELECT * FROM children
    WHERE parent_nid IN (SELECT parent_nid FROM families WHERE children > 1)
),
-- tord packs an event's time and kind into one sort key: 2t for an end, 2t + 1 for a start;
-- instant hashes (parent, time) for the same-instant comparisons.
events AS (
    SELECT *,
           last_value(CASE WHEN (tord & 1) = 0 THEN nid END IGNORE NULLS)
               OVER (w ROWS UNBOUNDED PRECEDING) AS plain_nid,
           lag(instant) OVER w AS prev_instant,
           lead(parent_nid) OVER w AS next_parent, lead(tord) OVER w AS next_tord,
           lead(cs) OVER w AS next_cs, lead(nid) OVER w AS next_nid,
           lead(clock) OVER w AS next_clock,
           lead(instant) OVER w AS next_instant, lead(instant, 2) OVER w AS next2_instant
    FROM (
        SELECT *, hash(parent_nid, (tord >> 1)) AS instant
        FROM (
            SELECT *, 2 * ce AS tord FROM siblings
            UNION ALL
            SELECT *, 2 * cs + 1 FROM siblings
        )
    )
    WINDOW w AS (ORDER BY parent_nid, tord, cs DESC, s DESC, e, k DESC)
),
pointers AS (
    SELECT parent_nid AS from_nid, nid AS to_nid, NULL::BIGINT AS sibling_of, 0::BIGINT AS overlap
    FROM children
    WHERE parent_nid IN (SELECT parent_nid FROM families WHERE children = 1)
    UNION ALL
    SELECT parent_nid, nid, NULL, 0
    FROM events
    WHERE next_parent IS DISTINCT FROM parent_nid
    UNION ALL
    SELECT nid, CASE WHEN skew THEN next_nid ELSE plain_nid END, parent_nid,
           CASE WHEN skew THEN (next_tord >> 1) - cs ELSE 0 END
    FROM (
        SELECT *,
               next_parent = parent_nid AND (next_tord & 1) = 0 AND (next_tord >> 1) > cs
               AND next_cs < cs AND prev_instant IS DISTINCT FROM instant
               AND next2_instant IS DISTINCT FROM next_instant
               AND ((next_tord >> 1) - cs) * 100 < parent_us
               AND next_clock <> clock AS skew
        FROM events
        WHERE (tord & 1) = 1
    )
    WHERE skew OR plain_nid IS NOT NULL
),
steps AS MATERIALIZED (
    SELECT x.from_nid, x.to_nid, x.sibling_of IS NULL AS is_first, x.overlap,
           c.s, c.e, c.cs, c.ce
    FROM pointers AS x
    JOIN children AS c ON c.nid = x.to_nid
    -- the last end event before a start may belong to the previous parent: no sibling then
    WHERE x.sibling_of IS NULL OR c.parent_nid = x.sibling_of
),
roots AS MATERIALIZED (
    SELECT arg_min({'nid': c.nid, 's': c.s, 'e': c.e}, (c.pk IS NOT NULL, c.s, r.span_id)) AS root
    FROM root_candidates AS c
    JOIN raw AS r ON r.nid = c.nid
    GROUP BY r.trace_id
),
-- One row per span on a critical path. shift moves a span (and its subtree) back in the output
-- after clock skew (parent_shift: its parent's); [lo, hi] is where its segments may lie (its
-- clipped window cut by its ancestors', in output times), [parent_lo, parent_hi] its parent's.
-- A span wholly before its parent's lo is pruned, and with it the earlier ones of its chain.
walk(nid, parent_nid, s, e, cs, ce, shift, parent_shift, lo, hi, parent_lo, parent_hi, gap_lo,
     gap_hi) AS (
    SELECT root.nid, NULL::BIGINT, root.s, root.e, root.s, root.e, 0::BIGINT, NULL::BIGINT,
           root.s, root.e, root.s, root.e, NULL::BIGINT, NULL::BIGINT
    FROM roots
    UNION ALL
    SELECT nid, parent_nid, s, e, cs, ce, shift, parent_shift,
           greatest(cs - shift, parent_lo), least(ce - shift, parent_hi), parent_lo, parent_hi,
           greatest(ce - shift, parent_lo), least(gap_top, parent_hi)
    FROM (
        SELECT x.to_nid AS nid, x.s, x.e, x.cs, x.ce, w.shift + x.overlap AS shift,
               CASE WHEN x.is_first THEN w.nid ELSE w.parent_nid END AS parent_nid,
               CASE WHEN x.is_first THEN w.shift ELSE w.parent_shift END AS parent_shift,
               CASE WHEN x.is_first THEN w.lo ELSE w.parent_lo END AS parent_lo,
               CASE WHEN x.is_first THEN w.hi ELSE w.parent_hi END AS parent_hi,
               -- the parent's own time above this child: up to the parent's end, or up to the
               -- start of the sibling after it on the path
               CASE WHEN x.is_first THEN w.e ELSE w.cs END - w.shift AS gap_top
        FROM walk AS w
        JOIN steps AS x ON x.from_nid = w.nid
    )
    WHERE ce - shift > parent_lo
),
-- Segments: each walked span's own time above each of its walked children (gap_lo, gap_hi),
-- and below the last of them (down to the span's start; a leaf: its whole window), all cut to
-- the span's [lo, hi]. The children's windows are disjoint in the shifted output times. Each
-- segment carries its owner's shift: owner time = recorded time - shift, so a segment moved back
-- still lies inside its own span's recorded window once the shift is added back.
bottoms AS (
    SELECT owner, min(top) AS bottom, max(frame_start) AS frame_start, max(lo) AS lo,
           max(hi) AS hi, max(shift) AS shift
    FROM (
        SELECT nid AS owner, e - shift AS top, s - shift AS frame_start, lo, hi, shift FROM walk
        UNION ALL
        SELECT parent_nid, cs - shift, NULL, NULL, NULL, NULL FROM walk
        WHERE parent_nid IS NOT NULL
    )
    GROUP BY owner
),
segments AS (
    SELECT parent_nid AS owner, gap_lo AS seg_start, gap_hi AS seg_end, parent_shift AS shift
    FROM walk
    WHERE parent_nid IS NOT NULL
    UNION ALL
    SELECT owner, greatest(frame_start, lo), least(bottom, hi), shift
    FROM bottoms
)
SELECT r.trace_id, r.span_id, r.service, r.operation, r.kind,
       g.seg_start, g.seg_end, g.shift AS clock_shift_us
FROM segments AS g
JOIN raw AS r ON r.nid = g.owner
WHERE g.seg_end > g.seg_start;

CREATE OR REPLACE VIEW critical_path AS
SELECT trace_id, span_id, service, operation, kind,
       make_timestamp(seg_start) AS start_time, make_timestamp(seg_end) AS end_time,
       seg_end - seg_start AS duration_us, clock_shift_us
FROM critical_path_walk;
