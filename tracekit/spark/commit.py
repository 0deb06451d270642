"""The result folder of a Spark run: what it may be, its staging folder, and the commit.

Every file of a run is written into ``RESULTS/.staging-<uuid>/`` (on the same filesystem, so
putting it in place is a rename). The commit records the new files as pending in
``results.json`` (so a crash leaves files the record proves are ours), moves them in place,
replaces the dataset manifest (from then on every reader sees the new spans and per-trace
results), then ``results.json`` (the whole-data results), and only then removes the files of the
result set it replaced, which its own manifests listed. A folder holding a dataset of its own,
or anything else, is never written into.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

from tracekit.dataset.manifest import MANIFEST, Manifest, read_manifest, write_json_atomic
from tracekit.dataset.writer import STAGING_PREFIX
from tracekit.errors import UserError
from tracekit.result_set import RESULTS_MANIFEST, ResultSet, dataset_digest, read_result_set

LOCK = ".lock"


def result_folder(out: str, source_root: Path | None) -> Path:
    """The folder ``out`` names, checked to be one a run may write: missing (it is made),
    empty, or a result set an earlier run wrote. ``source_root`` is the dataset's own folder
    when it is local (the results may not go into it, nor it into them)."""
    if "://" in out and not out.startswith("file://"):
        raise UserError(
            f"--out {out}: give a folder path: the driver and every executor write the result "
            "set there (on a cluster, a filesystem they all mount at that path)"
        )
    root = Path(out.removeprefix("file://")).expanduser().resolve()
    if source_root is not None:
        source = source_root.resolve()
        if root == source or source in root.parents or root in source.parents:
            raise UserError(f"--out {out}: the result set may not overlap the dataset {source}")
    if root.exists() and not root.is_dir():
        raise UserError(f"--out {out}: not a folder")
    if root.is_dir():
        results = read_result_set(root)
        if results is None and (root / MANIFEST).exists():
            raise UserError(
                f"--out {out}: holds a tracekit dataset, not a result set; refusing to write "
                "into it (give a new folder)"
            )
        ours = {LOCK, MANIFEST, RESULTS_MANIFEST}
        others = [
            child.name
            for child in root.iterdir()
            if child.name not in ours and not child.name.startswith(STAGING_PREFIX)
        ]
        if results is None and others:
            raise UserError(
                f"--out {out}: not empty and not a result set (holds {sorted(others)[0]!r}); "
                "give a new or empty folder"
            )
    root.mkdir(parents=True, exist_ok=True)
    return root


def new_staging(root: Path) -> Path:
    """A fresh staging folder in ``root``, after removing what an interrupted run left there
    and the record proves is ours (staging folders; files it recorded as pending)."""
    sweep(root)
    staging = root / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    staging.mkdir()
    return staging


def sweep(root: Path) -> None:
    for child in root.iterdir():
        if child.name.startswith(STAGING_PREFIX) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
    results = read_result_set(root)
    if results is None or not results.pending:
        return
    kept = set(results.files())
    if (root / MANIFEST).exists():
        kept |= {entry.path for entry in read_manifest(root).files}
    _remove(root, [path for path in results.pending if path not in kept])
    results.pending = []
    write_json_atomic(root / RESULTS_MANIFEST, results.to_json())


def commit(root: Path, staging: Path, manifest: Manifest, results: ResultSet) -> None:
    """Put the staged result set in place of whatever result set ``root`` held."""
    old_files: list[str] = []
    if (root / MANIFEST).exists():
        old_files += [entry.path for entry in read_manifest(root).files]
    previous = read_result_set(root)
    if previous is not None:
        old_files += previous.files()
    new_files = [entry.path for entry in manifest.files] + results.files()
    record = previous or ResultSet(source=results.source, engine=results.engine, created="")
    record.pending = new_files
    write_json_atomic(root / RESULTS_MANIFEST, record.to_json())
    for path in new_files:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / path, target)
    manifest.pending = []
    _write_manifest(root, manifest)
    results.dataset_digest = dataset_digest(entry.path for entry in manifest.files)
    results.pending = []
    write_json_atomic(root / RESULTS_MANIFEST, results.to_json())
    _remove(root, sorted(set(old_files) - set(new_files)))
    shutil.rmtree(staging, ignore_errors=True)


def _write_manifest(root: Path, manifest: Manifest) -> None:
    from tracekit.dataset.manifest import write_manifest

    write_manifest(root, manifest)


def _remove(root: Path, paths: list[str]) -> None:
    for path in paths:
        target = root / path
        if target.suffix == ".parquet" and target.name.startswith("part-"):
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
