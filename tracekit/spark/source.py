"""The dataset a Spark run reads: its manifest and the span files it commits, by path or URI.

A local path is opened as every tracekit command opens a dataset (``open_dataset``); a URI
(``s3a://bucket/ds``, ``hdfs://nn/ds``, ``file:///ds``) is read through Spark's own filesystems,
manifest included, so the driver needs no client of its own for it. Only the files the manifest
lists are read: a folder may hold files no commit made (an interrupted write's), which are no
data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tracekit.dataset.manifest import MANIFEST, SPANS, Manifest, parse_manifest
from tracekit.errors import UserError
from tracekit.schema import SPAN_SCHEMA
from tracekit.spark.session import first_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class SourceDataset:
    """A dataset as a Spark run sees it: where it is (a URI), its manifest, its span files."""

    uri: str
    manifest: Manifest
    span_files: tuple[str, ...]

    @property
    def spans(self) -> int:
        return self.manifest.counts["spans"]


def is_uri(location: str) -> bool:
    """``s3a://b/ds`` and ``file:///ds`` are URIs; ``data/ds`` and ``/srv/ds`` are paths."""
    return bool(_URI.match(location))


def local_root(dataset: str) -> Path | None:
    """The folder of a dataset given as a path or ``file://`` URI; None for other URIs."""
    if is_uri(dataset) and not dataset.startswith("file://"):
        return None
    return Path(dataset.removeprefix("file://")).expanduser()


def open_local_source(root: Path, dataset: str) -> SourceDataset:
    """The dataset in the local folder ``root``, opened as every command opens one."""
    from tracekit.dataset import open_dataset

    folder, manifest = open_dataset(root)
    return _source(f"file://{folder.resolve()}", manifest, dataset)


def open_source(spark: SparkSession, dataset: str) -> SourceDataset:
    """The dataset at ``dataset`` (a path or a URI); a UserError when there is none."""
    root = local_root(dataset)
    if root is not None:
        return open_local_source(root, dataset)
    uri = dataset.rstrip("/")
    return _source(uri, _read_remote_manifest(spark, uri), dataset)


def _source(uri: str, manifest: Manifest, dataset: str) -> SourceDataset:
    files = tuple(f"{uri}/{entry.path}" for entry in manifest.table_files(SPANS))
    if not files:
        raise UserError(f"{dataset}: the dataset holds no spans; nothing to analyze")
    return SourceDataset(uri=uri, manifest=manifest, span_files=files)


def read_spans(spark: SparkSession, source: SourceDataset) -> DataFrame:
    """The committed span rows, with the span schema's columns (a stored ``self_us`` is left
    out: the run computes it again, as every per-trace result)."""
    try:
        frame = spark.read.parquet(*source.span_files)
        return frame.select(*SPAN_SCHEMA.names)
    except Exception as exc:
        raise UserError(f"{source.uri}: cannot read its span files: {first_line(exc)}") from None


def _read_remote_manifest(spark: SparkSession, uri: str) -> Manifest:
    where = f"{uri}/{MANIFEST}"
    try:
        text = spark.read.text(where, wholetext=True).first()
    except Exception as exc:
        raise UserError(
            f"{uri}: no tracekit dataset here ({MANIFEST} unreadable: {first_line(exc)})"
        ) from None
    try:
        data = json.loads(text[0] if text is not None else "")
    except ValueError as exc:
        raise UserError(f"{where}: unreadable dataset manifest: {exc}") from None
    return parse_manifest(data, where)
