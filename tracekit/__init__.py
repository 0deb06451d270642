"""tracekit: trace analytics and capacity planning on top of Jaeger.

>>> import tracekit
>>> con = tracekit.connect("data/sample")  # doctest: +SKIP

``import tracekit`` (which every command does first) imports no pyarrow or DuckDB: they come
with the first connection or write, so a Ctrl-C in a command's first moments finds the command's
own handler in place.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from tracekit.connect import connect
from tracekit.errors import UserError

if TYPE_CHECKING:
    from tracekit.dataset import read_manifest, write_spans

# Arrow's allocator, chosen before pyarrow is first imported (here, in importer workers and in
# report kernels, which inherit the variable): jemalloc hands freed buffers back sooner than
# mimalloc, pyarrow's default. Importing the benchmark's 60 files: peak 740 -> 620 MB (PSS of the
# process tree) and 8% faster (docs/benchmarks.md "Import"). A value the user set is kept.
if sys.platform.startswith("linux"):
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

__all__ = ["UserError", "connect", "read_manifest", "write_spans"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("read_manifest", "write_spans"):
        value = getattr(importlib.import_module("tracekit.dataset"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tracekit' has no attribute {name!r}")
