"""Failures of what is around tracekit, as the one line a user error gets: a dataset file that
is missing or damaged, a disk that is read-only or full."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from tracekit.errors import UserError, damaged_dataset_file

# What a write can meet that is about the place written to, not a bug of ours.
_WRITE_ERRNOS = {
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EFBIG,
    errno.EACCES,
    errno.EPERM,
    errno.EIO,
}


@contextlib.contextmanager
def writing(dataset: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a read-only, full or forbidden place into one line naming the dataset.

    Writes are atomic (``tracekit.dataset.write_spans``), so the dataset is as it was.
    """
    try:
        yield
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            where = f" ({exc.filename})" if exc.filename else ""
            raise UserError(
                f"{dataset}: cannot write: {os.strerror(exc.errno)}{where}; nothing was stored"
            ) from None
        # Arrow's errors for a stored part it cannot read do not name the file: find it
        damaged = damaged_dataset_file(exc) or _damaged_part(dataset)
        if damaged is None:
            raise
        raise UserError(damaged) from None


def _damaged_part(dataset: str | os.PathLike[str]) -> str | None:
    """The line for the first committed part file that is missing or has no Parquet footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tracekit.dataset import dataset_files

    try:
        files = dataset_files(dataset)
    except UserError:
        return None
    for path in files:
        if not os.path.exists(path):
            return f"{path}: dataset file missing (the manifest lists it)"
        try:
            pq.ParquetFile(path).close()
        except (pa.ArrowException, OSError) as exc:
            reason = str(exc).splitlines()[0].split(". ")[0]
            return f"{path}: dataset file damaged, not readable as Parquet: {reason}"
    return None
