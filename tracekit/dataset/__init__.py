"""The Parquet dataset: span files and per-trace results, committed by one manifest.

``write_spans`` appends (tracekit.dataset.writer), ``read_manifest`` reads what is committed
(tracekit.dataset.manifest), ``open_dataset``/``dataset_files`` locate it for readers.
"""

from tracekit.dataset.files import dataset_files, open_dataset, require_dataset, table_files
from tracekit.dataset.manifest import (
    FORMAT,
    MANIFEST,
    SPANS,
    ExportSource,
    Manifest,
    PartFile,
    Source,
    read_manifest,
)
from tracekit.dataset.writer import WriteResult, update_manifest, write_spans

__all__ = [
    "FORMAT",
    "MANIFEST",
    "SPANS",
    "ExportSource",
    "Manifest",
    "PartFile",
    "Source",
    "WriteResult",
    "dataset_files",
    "open_dataset",
    "read_manifest",
    "require_dataset",
    "table_files",
    "update_manifest",
    "write_spans",
]
