"""Finding a dataset and its committed files, for readers."""

from __future__ import annotations

import os
from pathlib import Path

from tracekit.dataset.manifest import MANIFEST, SPANS, Manifest, read_manifest
from tracekit.errors import UserError


def open_dataset(dataset: str | os.PathLike[str]) -> tuple[Path, Manifest]:
    """The dataset folder and its manifest, or a UserError when it holds no tracekit dataset."""
    root = Path(dataset)
    if not (root / MANIFEST).exists():
        read_manifest(root)  # names part files without a manifest, if any
        raise UserError(
            f"{root}: no tracekit dataset here (no {MANIFEST}); create one with "
            "`tracekit import`, `tracekit simulate` or `tracekit export`"
        )
    return root, read_manifest(root)


def require_dataset(dataset: str | os.PathLike[str]) -> Path:
    """The dataset folder, or a UserError when it holds no tracekit dataset."""
    return open_dataset(dataset)[0]


def dataset_files(dataset: str | os.PathLike[str], manifest: Manifest | None = None) -> list[str]:
    """Absolute paths of the committed span files, in manifest order."""
    return table_files(dataset, SPANS, manifest)


def table_files(
    dataset: str | os.PathLike[str], table: str, manifest: Manifest | None = None
) -> list[str]:
    """Absolute paths of the committed files of ``table`` (``spans`` or a per-trace table)."""
    root = Path(dataset)
    if manifest is None:
        manifest = read_manifest(root)
    return [str(root / entry.path) for entry in manifest.table_files(table)]
