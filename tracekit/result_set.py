"""A result set: a dataset's results computed elsewhere (e.g. on Apache Spark), stored as a folder
that every tracekit reader opens like a dataset.

Layout::

    RESULTS/manifest.json                  a dataset manifest (tracekit.dataset.manifest): the spans
                                           with their self_us and the per-trace results, so
                                           connect, sql, info and report read it as a dataset
    RESULTS/date=YYYY-MM-DD/part-*.parquet spans, as a dataset stores them
    RESULTS/derived/<view>/part-*.parquet  per-trace results, as a dataset stores them
    RESULTS/results.json                   this module's ``ResultSet``: where the results come
                                           from and the whole-data results computed with them
    RESULTS/global/<name>/part-*.parquet   whole-data results (``latency_by_service``,
                                           ``dependencies``, ``bottlenecks``, ...)

``tracekit.connect`` shows the whole-data results as views in the schema ``spark``
(``SELECT * FROM spark.bottlenecks``) while they were computed from exactly the files the
dataset manifest lists; the ordinary views are computed from the stored per-trace results as on
any dataset, so a report window narrows them as usual. A later write into the folder (it is a
dataset) leaves the whole-data results out until they are computed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracekit.errors import UserError

RESULTS_MANIFEST = "results.json"
RESULTS_FORMAT = "tracekit-results"
RESULTS_VERSION = 1
GLOBAL = "global"
# The DuckDB schema the whole-data results are views in.
RESULTS_SCHEMA = "spark"

_GLOBAL_PATH = re.compile(r"global/[a-z_0-9]+/part-[0-9a-z-]+\.parquet")
_NAME = re.compile(r"[a-z_][a-z_0-9]*")


@dataclass(frozen=True)
class ResultTable:
    """One whole-data result: its files (relative to the result set) and rows."""

    name: str
    files: tuple[str, ...]
    rows: int

    @classmethod
    def from_json(cls, name: str, entry: Mapping[str, Any]) -> ResultTable:
        files = entry.get("files")
        rows = entry.get("rows")
        if not _NAME.fullmatch(name):
            raise ValueError(f"a result is not named like a view: {name!r:.60}")
        if not isinstance(files, list) or not all(
            isinstance(path, str) and _GLOBAL_PATH.fullmatch(path) for path in files
        ):
            raise ValueError(f"result {name}: files must be global/<name>/part-*.parquet paths")
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            raise ValueError(f"result {name}: no row count")
        return cls(name=name, files=tuple(files), rows=rows)

    def to_json(self) -> dict[str, Any]:
        return {"files": list(self.files), "rows": self.rows}


@dataclass
class ResultSet:
    """What ``results.json`` holds.

    ``source`` is the dataset the results were computed from (a path or URI) and ``engine``
    what computed them. ``dataset_digest`` fingerprints the files the folder's dataset manifest
    listed when the results were committed: the whole-data results describe exactly those.
    ``skipped`` names results that were not computed, with the reason; ``quantiles`` says how
    quantiles were computed (``exact``). ``stats`` holds figures of the run (buckets, oversized
    traces, seconds per stage); ``pending`` the files a commit is putting in place (ours, by this
    record, should it not finish).
    """

    source: str
    engine: str
    created: str
    dataset_digest: str = ""
    tables: dict[str, ResultTable] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    quantiles: str = "exact"
    stats: dict[str, Any] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)

    def files(self) -> list[str]:
        """Every file of the whole-data results, relative to the result set."""
        return [path for table in self.tables.values() for path in table.files]

    def describes(self, dataset_paths: Iterable[str]) -> bool:
        """True when the results were computed from exactly these committed dataset files."""
        return bool(self.dataset_digest) and self.dataset_digest == dataset_digest(dataset_paths)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResultSet:
        tables = data.get("tables") or {}
        if not isinstance(tables, dict):
            raise ValueError("its 'tables' is not an object")
        return cls(
            source=str(data.get("source", "")),
            engine=str(data.get("engine", "")),
            created=str(data.get("created", "")),
            dataset_digest=str(data.get("dataset_digest", "")),
            tables={name: ResultTable.from_json(name, entry) for name, entry in tables.items()},
            skipped={str(k): str(v) for k, v in (data.get("skipped") or {}).items()},
            quantiles=str(data.get("quantiles", "exact")),
            stats=dict(data.get("stats") or {}),
            pending=[str(path) for path in data.get("pending") or []],
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": RESULTS_FORMAT,
            "version": RESULTS_VERSION,
            "source": self.source,
            "engine": self.engine,
            "created": self.created,
            "dataset_digest": self.dataset_digest,
            "quantiles": self.quantiles,
            "tables": {name: table.to_json() for name, table in sorted(self.tables.items())},
            "skipped": self.skipped,
            "stats": self.stats,
        }
        if self.pending:
            data["pending"] = self.pending
        return data


def dataset_digest(paths: Iterable[str]) -> str:
    """A fingerprint of a set of committed part files (their paths name fresh uuids, so a
    changed file is a changed path)."""
    digest = hashlib.sha256("\n".join(sorted(paths)).encode())
    return f"sha256:{digest.hexdigest()[:32]}"


def read_result_set(folder: str | os.PathLike[str]) -> ResultSet | None:
    """The result set recorded in ``folder``, or None when it holds none (a plain dataset).

    A ``results.json`` that cannot be read is a UserError naming it.
    """
    path = Path(folder) / RESULTS_MANIFEST
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UserError(f"{path}: unreadable result set manifest: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UserError(f"{path}: unreadable result set manifest: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        raise UserError(f"{path}: not a tracekit result set manifest")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > RESULTS_VERSION:
        raise UserError(
            f"{path}: result set version {version!r:.20} is not one this tracekit reads "
            f"({RESULTS_VERSION}); upgrade tracekit"
        )
    try:
        return ResultSet.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: damaged result set manifest: {exc}") from exc
