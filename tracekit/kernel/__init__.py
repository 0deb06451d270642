"""The per-trace kernel: compiled walks (numba) over one bucket of whole traces.

``kernel_tables(spans, facts)`` computes the rows of the per-trace views (self time, trace
roots and summaries, cross-service spans, critical path and its charges, calls, N+1 runs, call
patterns, telemetry loss, the messages' sends, consumer spans, links, children and orphans) from
plain columns: ``span_arrays`` sorts and codes the spans, the walks (``trees``,
``critical_path``, ``calls``, ``charges``) return row positions and numbers, ``tables`` turns
them into Arrow tables typed as the SQL views were; ``messages`` walks and joins the messaging
spans with numpy array steps and builds its tables itself. What the semantic
conventions say about a span comes in as ``facts`` (``sql/kernel/span_facts.sql``), so the
convention macros stay the one place that reads convention attributes.
"""
