"""Opening an input: a path or ``-`` (stdin), gzip or not (by magic bytes), one JSON document or
JSON Lines (one document per line, as the OpenTelemetry Collector's file exporter writes).

JSON Lines are read a line at a time, so a collector file of any size streams; a single
document is read whole (one file at a time).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
_BUFFER = 1 << 20


def source_name(path: str | Path) -> str:
    """How messages name an input."""
    return "<stdin>" if str(path) == "-" else str(path)


@contextlib.contextmanager
def open_input(path: str | Path) -> Iterator[tuple[BinaryIO, bool]]:
    """The decompressed byte stream of ``path`` (``-`` = stdin) and whether it was gzip."""
    if str(path) == "-":
        raw: BinaryIO = sys.stdin.buffer
        close = False
    else:
        # 1 MB reads: a one-line 10 MB document read by readline() in the default 8 KB reads
        # costs more system time than decoding it
        raw = open(path, "rb", buffering=_BUFFER)  # noqa: SIM115 (closed below)
        close = True
    try:
        buffered: Any = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
        compressed = buffered.peek(2)[:2] == GZIP_MAGIC
        if compressed:
            unpacked: Any = io.BufferedReader(gzip.GzipFile(fileobj=buffered, mode="rb"), _BUFFER)  # type: ignore[type-var]
            yield unpacked, True
        else:
            yield buffered, False
    finally:
        if close:
            raw.close()


class Chunks:
    """The documents of a stream: ``kind`` is "json" (one document) or "jsonl"; iterate for
    ``(line number or None, document bytes)``."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        first = stream.readline()
        if first.startswith(_BOM):
            first = first[len(_BOM) :]
        self._first = first
        self._second = b""
        self._second_number = 2
        self.kind = "json"
        opening, closing = _edges(first)
        # A line that holds a whole object, followed by more lines, is JSON Lines; the first
        # line of a pretty-printed document ("{") never ends with "}". A document on a single
        # line (curl's output) is not decoded twice: the next line decides.
        if opening == b"{" and closing == b"}":
            for line in stream:
                if line.strip(_WHITESPACE):
                    self._second = line
                    self.kind = "jsonl"
                    break
                self._second_number += 1

    def __iter__(self) -> Iterator[tuple[int | None, bytes]]:
        if self.kind == "json":
            rest = self._stream.read()
            # a one-line document (curl's output) is whole already: no copy of it
            yield None, self._first + rest if rest else self._first
            return
        yield 1, self._first
        yield self._second_number, self._second
        for number, line in enumerate(self._stream, start=self._second_number + 1):
            if line.strip(_WHITESPACE):
                yield number, line


# Found by search rather than strip(): a stripped copy of a 10 MB one-line document costs as
# much as reading it (fresh pages), for one byte at each end.
_CONTENT = re.compile(rb"[^ \t\r\n]")


def _edges(line: bytes) -> tuple[bytes, bytes]:
    """The first and last bytes of ``line`` that are not whitespace (b"" when there are none)."""
    start = _CONTENT.search(line)
    if start is None:
        return b"", b""
    end = len(line)
    while line[end - 1] in _WHITESPACE:
        end -= 1
    return line[start.start() : start.start() + 1], line[end - 1 : end]


def leading_problem(document: bytes) -> str | None:
    """Why ``document`` cannot be JSON at all (empty, binary), or None."""
    start = _CONTENT.search(document)
    if start is None:
        return "empty file" if not document else "empty file (only whitespace)"
    offset = start.start()
    first = document[offset : offset + 1]
    if first not in (b"{", b"["):
        shown = repr(first.decode("latin-1"))
        return f"not JSON: byte {offset} is {shown} (0x{first[0]:02x}), expected '{{' or '['"
    return None


READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile)
