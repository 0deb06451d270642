"""``repair``: rebuild the manifest of a dataset folder that lost it, from its span files.

A manifest can go missing (deleted by hand, a sync tool, a half-copied folder) while the span
files are intact. Every write refuses such a folder rather than guess; ``repair`` is the
explicit step: it adopts each ``date=*/part-*.parquet`` file that reads as tracekit span rows,
leaves every other file alone (and says so), writes a manifest listing the adopted files, and
then recomputes all per-trace results (tracekit.dataset.upgrade), which also drops span rows
repeated across adopted files (the leftovers of an interrupted write). A damaged manifest is
kept beside the new one as ``manifest.json.damaged-<time>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from tracekit.dataset.manifest import (
    MANIFEST,
    SPANS,
    Manifest,
    PartFile,
    Source,
    now_iso,
    read_manifest,
    write_manifest,
)
from tracekit.dataset.upgrade import upgrade_locked
from tracekit.dataset.writer import writer_lock
from tracekit.errors import UserError
from tracekit.schema import SPAN_SCHEMA


@dataclass
class RepairResult:
    """What ``repair`` did: the span files adopted (and their rows), the files left alone with
    the reason, and where a damaged manifest was kept."""

    adopted: list[str] = field(default_factory=list)
    spans: int = 0
    ignored: dict[str, str] = field(default_factory=dict)
    damaged_manifest: str | None = None


def repair(dataset: str | os.PathLike[str]) -> RepairResult:
    """Rebuild ``dataset``'s manifest from its span files; a UserError when it has a readable
    manifest already (nothing to repair) or no span files."""
    root = Path(dataset)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder")
    with writer_lock(root):
        result = RepairResult()
        manifest_path = root / MANIFEST
        if manifest_path.exists():
            try:
                read_manifest(root)
            except UserError:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
                kept = manifest_path.with_name(f"{MANIFEST}.damaged-{stamp}")
                os.replace(manifest_path, kept)
                result.damaged_manifest = str(kept)
            else:
                raise UserError(f"{root}: its manifest is readable; nothing to repair")
        entries = []
        for path in sorted(root.glob("date=*/part-*.parquet")):
            relative = str(path.relative_to(root))
            problem = _problem(path)
            if problem:
                result.ignored[relative] = problem
                continue
            rows = pq.ParquetFile(path).metadata.num_rows
            entries.append(
                PartFile(path=relative, table=SPANS, rows=rows, date=path.parent.name[5:])
            )
            result.adopted.append(relative)
            result.spans += rows
        for path in sorted(root.glob("derived/*/part-*.parquet")):
            result.ignored[str(path.relative_to(root))] = "per-trace results are recomputed"
        if not entries:
            raise UserError(f"{root}: no readable span files to rebuild a manifest from")
        manifest = Manifest(schema_version=1, files=entries)
        manifest.record_source(
            Source(
                kind="repair",
                spans=result.spans,
                added=result.spans,
                at=now_iso(),
                details={"adopted_files": len(entries), "ignored_files": len(result.ignored)},
            )
        )
        write_manifest(root, manifest)
        upgrade_locked(root, manifest)
        return result


def _problem(path: Path) -> str | None:
    """Why ``path`` cannot be adopted as span rows (None when it can)."""
    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError) as exc:
        return f"not a readable Parquet file: {exc}"
    missing = [name for name in SPAN_SCHEMA.names if name not in schema.names]
    if missing:
        return f"lacks span columns {', '.join(missing)}"
    return None
