"""The dataset manifest: what a dataset holds, as a type with the operations that change it.

``DATASET/manifest.json`` is the commit point of every write. Readers only read the files it
lists; a write adds and replaces files, then replaces the manifest by an atomic rename.

A file is listed under the table it holds: ``spans`` (the span rows, Hive-partitioned by UTC
start date) or a per-trace table (``traces``, ``critical_path``, ... computed when its traces
were written, see ``tracekit.per_trace``). ``pending`` names the files a write is putting in place
before its commit, ``obsolete`` the files a commit replaced: both are ours by the manifest's own
record, so a later write may delete them; nothing else that the manifest does not list is ever
deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracekit.errors import UserError
from tracekit.schema import SCHEMA_VERSION

MANIFEST = "manifest.json"
FORMAT = "tracekit-dataset"
SPANS = "spans"

Interval = tuple[int, int]
# where tracekit puts its part files: the manifest names nothing else
_PART_PATH = re.compile(r"(date=\d{4}-\d{2}-\d{2}|derived/[a-z_]+)/part-[0-9a-z-]+\.parquet")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class PartFile:
    """One committed Parquet file: its path in the dataset, the table it holds, its rows, and
    the range of its rows' times (ISO, UTC) so a write can skip files its traces cannot be in."""

    path: str
    table: str
    rows: int
    date: str | None = None
    first: str | None = None
    last: str | None = None

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> PartFile:
        """An entry as the manifest holds it; ValueError naming what is wrong with it."""
        if not isinstance(entry, Mapping):
            raise ValueError(f"a file entry is not an object: {entry!r:.60}")
        path, table, rows = entry.get("path"), entry.get("table", SPANS), entry.get("rows")
        if not isinstance(path, str) or not _PART_PATH.fullmatch(path):
            raise ValueError(f"a file entry has no tracekit part path: {path!r:.60}")
        if not isinstance(table, str) or not isinstance(rows, int) or rows < 0:
            raise ValueError(f"the entry of {path} has no table or row count")
        return cls(
            path=path,
            table=table,
            rows=rows,
            date=entry.get("date"),
            first=entry.get("first"),
            last=entry.get("last"),
        )

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": self.path, "table": self.table, "rows": self.rows}
        for name in ("date", "first", "last"):
            value = getattr(self, name)
            if value is not None:
                entry[name] = value
        return entry


@dataclass
class Source:
    """One write's provenance: what wrote it (``kind``: import, export, simulate, ...), the
    rows offered and added, when, and kind-specific details (files, scenario, ...)."""

    kind: str
    spans: int = 0
    added: int = 0
    at: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> Source:
        known = {"kind", "spans", "added", "at"}
        return cls(
            kind=str(entry.get("kind", "")),
            spans=int(entry.get("spans", 0)),
            added=int(entry.get("added", 0)),
            at=str(entry.get("at", "")),
            details={key: value for key, value in entry.items() if key not in known},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            **self.details,
            "spans": self.spans,
            "added": self.added,
            "at": self.at,
        }


@dataclass
class ExportSource:
    """Export progress for one Jaeger URL and service selection (see tracekit.export.state):
    the closed microsecond intervals whose spans are stored, merged, with running totals."""

    done_us: list[Interval] = field(default_factory=list)
    totals: Counter[str] = field(default_factory=Counter)
    last_chunk: list[str] | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    # the done intervals as ISO texts, for people reading the manifest
    done: list[list[str]] = field(default_factory=list)

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> ExportSource:
        return cls(
            done_us=[(int(start), int(end)) for start, end in entry.get("done_us", [])],
            totals=Counter({k: int(v) for k, v in entry.get("totals", {}).items()}),
            last_chunk=entry.get("last_chunk"),
            runs=list(entry.get("runs", [])),
            done=[list(pair) for pair in entry.get("done", [])],
        )

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "done_us": [list(pair) for pair in self.done_us],
            "done": self.done,
            "totals": dict(self.totals),
            "last_chunk": self.last_chunk,
        }
        if self.runs:
            entry["runs"] = self.runs
        return entry


@dataclass
class Manifest:
    """What ``manifest.json`` holds; ``write_spans`` changes it and commits it atomically."""

    schema_version: int = SCHEMA_VERSION
    created: str = field(default_factory=now_iso)
    updated: str | None = None
    files: list[PartFile] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    export: dict[str, ExportSource] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    obsolete: list[str] = field(default_factory=list)

    # -- reading ---------------------------------------------------------------------------
    @property
    def counts(self) -> dict[str, int]:
        """Spans stored and span files, as ``tracekit info`` shows them."""
        spans = [entry for entry in self.files if entry.table == SPANS]
        return {"spans": sum(entry.rows for entry in spans), "files": len(spans)}

    def table_files(self, table: str) -> list[PartFile]:
        """The committed files of ``table``, in commit order."""
        return [entry for entry in self.files if entry.table == table]

    def tables(self) -> list[str]:
        """The per-trace tables stored (every table but the spans)."""
        return sorted({entry.table for entry in self.files if entry.table != SPANS})

    @property
    def derived(self) -> bool:
        """True when the current per-trace results are stored beside the spans (an older
        schema version's are upgraded on the next write, and computed when read)."""
        return self.schema_version >= SCHEMA_VERSION

    def export_source(self, key: str) -> ExportSource:
        """The export progress of ``key``, created empty when there is none yet."""
        return self.export.setdefault(key, ExportSource())

    # -- changing --------------------------------------------------------------------------
    def replace_files(self, added: Iterable[PartFile], removed: Iterable[str]) -> None:
        """Commit ``added`` and drop the files at ``removed`` (they become obsolete)."""
        gone = set(removed)
        self.files = [entry for entry in self.files if entry.path not in gone]
        self.files.extend(added)
        self.obsolete.extend(sorted(gone))

    def record_source(self, source: Source) -> None:
        self.sources.append(source)

    # -- JSON ------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        files = data.get("files")
        if not isinstance(files, list):
            raise ValueError("its 'files' is not a list")
        export = data.get("export") or {}
        return cls(
            schema_version=int(data.get("schema_version", 1)),
            created=str(data.get("created") or now_iso()),
            updated=data.get("updated"),
            files=[PartFile.from_json(entry) for entry in files],
            sources=[Source.from_json(entry) for entry in data.get("sources") or []],
            export={
                key: ExportSource.from_json(entry)
                for key, entry in (export.get("sources") or {}).items()
            },
            pending=[str(path) for path in data.get("pending") or []],
            obsolete=[str(path) for path in data.get("obsolete") or []],
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": FORMAT,
            "schema_version": self.schema_version,
            "created": self.created,
            "updated": self.updated,
            "counts": self.counts,
            "files": [entry.to_json() for entry in self.files],
            "sources": [source.to_json() for source in self.sources],
        }
        if self.export:
            data["export"] = {
                "sources": {key: entry.to_json() for key, entry in self.export.items()}
            }
        if self.pending:
            data["pending"] = self.pending
        if self.obsolete:
            data["obsolete"] = self.obsolete
        return data


def read_manifest(dataset: str | os.PathLike[str]) -> Manifest:
    """The dataset's manifest; an empty one when the folder holds no dataset yet.

    Raises UserError when the folder holds a manifest we cannot read, or holds span files but
    no manifest (a manifest deleted by hand or a half-copied folder: writing there would lose
    the files, so it is refused; ``tracekit repair`` rebuilds the manifest from them).
    """
    root = Path(dataset)
    path = root / MANIFEST
    if not path.exists():
        orphans = stored_part_files(root)
        if orphans:
            raise UserError(
                f"{root}: holds {len(orphans)} Parquet part file(s) but no {MANIFEST}; refusing "
                f"to touch it (run `tracekit repair {root}` to rebuild the manifest from them)"
            )
        return Manifest()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable dataset manifest: {exc}") from exc
    return parse_manifest(data, str(path))


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Replace ``root/manifest.json`` atomically (write, fsync, rename, fsync the folder)."""
    manifest.updated = now_iso()
    write_json_atomic(root / MANIFEST, manifest.to_json())


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "w") as handle:
            json.dump(payload, handle, indent=1, sort_keys=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def stored_part_files(root: Path) -> list[Path]:
    """Part files laid out as tracekit writes them (``date=*/part-*.parquet``,
    ``derived/*/part-*.parquet``), whether or not a manifest lists them."""
    if not root.is_dir():
        return []
    return sorted(_part_files(root))


def _part_files(root: Path) -> Iterator[Path]:
    yield from root.glob("date=*/part-*.parquet")
    yield from root.glob("derived/*/part-*.parquet")


def parse_manifest(data: object, where: str) -> Manifest:
    """A manifest's parsed JSON, checked: format, schema version and entries. ``where`` names
    it in messages (a local path, or a URI Spark reads)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{where}: not a tracekit dataset manifest")
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise UserError(f"{where}: damaged dataset manifest: schema_version {version!r:.40}")
    if version > SCHEMA_VERSION:
        raise UserError(
            f"{where}: dataset schema version {version} is newer than this tracekit "
            f"understands ({SCHEMA_VERSION}); upgrade tracekit"
        )
    try:
        return Manifest.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where}: damaged dataset manifest: {exc}") from None
