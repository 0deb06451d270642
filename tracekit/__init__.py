"""tracekit: trace analytics and capacity planning on top of Jaeger.

>>> import tracekit
>>> con = tracekit.connect("data/sample")  # doctest: +SKIP
"""

from tracekit.connect import connect
from tracekit.dataset import read_manifest, write_spans
from tracekit.errors import UserError

__all__ = ["UserError", "connect", "read_manifest", "write_spans"]
__version__ = "0.1.0"
