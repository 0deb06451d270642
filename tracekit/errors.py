"""The one exception type for mistakes a user can make; the CLI prints it as one line, exit 2;
and the line for a dataset file that DuckDB or Arrow could not read."""

from __future__ import annotations

import os
import re


class UserError(Exception):
    """A problem with the user's input (file, flag, server, parameter), not a bug in tracekit.

    The message is a single line that says what is wrong and where, e.g.
    ``UserError("traces.json: malformed JSON at byte 1042: unexpected end of data")``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


_PARQUET_PATH = re.compile(
    r"""['"]?([^'"\s]+\.parquet)['"]?|No files found that match the pattern "([^"]+)"""
)


def damaged_dataset_file(exc: BaseException) -> str | None:
    """The one line for a dataset part file that is missing, truncated or not Parquet (DuckDB's
    or Arrow's error names it, in a message of up to 33 lines), or None when ``exc`` is about
    something else.

    >>> damaged_dataset_file(OSError("Failed to open local file '/nowhere/part-1.parquet'"))
    '/nowhere/part-1.parquet: dataset file missing (the manifest lists it)'
    """
    module = type(exc).__module__.split(".")[0]
    if not isinstance(exc, OSError) and module not in ("duckdb", "_duckdb", "pyarrow"):
        return None
    text = str(exc).strip()
    match = _PARQUET_PATH.search(text)
    if match is None:
        return None
    path = match.group(1) or match.group(2)
    if not os.path.exists(path):
        return f"{path}: dataset file missing (the manifest lists it)"
    first = text.splitlines()[0]
    reason = (first[: match.start()] + first[match.end() :]).split("Error: ", 1)[-1]
    return f"{path}: dataset file damaged, not readable as Parquet: {reason.strip(' .:')}"
