"""Trace and span id normalisation on the import hot path.

The same rules as ``tracekit.schema.normalize_trace_id``/``normalize_span_id`` (a test checks
they agree), with a C-speed hex check and a per-import cache, since every span and reference
carries ids and the ids of one trace repeat.
"""

from __future__ import annotations

import re

_hex = re.compile(r"[0-9a-fA-F]+").fullmatch


class IdCache:
    """Normalised ids, remembered: trace ids repeat on every span and reference of a trace."""

    def __init__(self) -> None:
        self._trace_ids: dict[str, str] = {}

    def trace_id(self, trace_id: str) -> str:
        """Lower-case hex left-padded to 32 when 16 or 32 hex chars; other ids as given."""
        known = self._trace_ids.get(trace_id)
        if known is None:
            known = trace_id
            if (len(trace_id) == 32 or len(trace_id) == 16) and _hex(trace_id):
                known = trace_id.lower().rjust(32, "0")
            if len(self._trace_ids) > 100_000:
                self._trace_ids.clear()
            self._trace_ids[trace_id] = known
        return known


def span_id(span_id: str) -> str:
    """Lower-case when 16 hex chars; other ids as given."""
    if len(span_id) == 16 and _hex(span_id):
        return span_id.lower()
    return span_id
