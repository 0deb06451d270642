"""Reading an answer from a server export does not trust: size-limited, decompressed by hand.

``read_answer`` reads a streamed requests response to its end, at most a limit of bytes after
decompression (gzip and deflate, the encodings export asks for, decoded by ``Inflater`` in
bounded steps): a small compressed answer cannot expand past the limit in memory.
"""

from __future__ import annotations

import zlib
from typing import Any

import msgspec
import requests
import urllib3

from tracekit.export.deadline import Deadline

MiB = 1 << 20
# An error answer is only read for its message: a bomb there costs no more than this.
ERROR_BODY_BYTES = 64 * 1024
# Raw bytes read per call when the size is not known (chunked, compressed): the size limit acts
# after each. Read 10 x 20 MB chunked, 1 MiB pieces cost what one piece does (0.29 CPU-s: the
# pieces are joined as http.client joins the chunks); 4 or 16 MiB cost more (0.35, 0.38).
# requests' `.content` reads 10 KB at a time, three times the CPU on answers of many MB.
READ_BYTES = MiB
INFLATE_STEP = 4 * MiB  # decompressed bytes per zlib call


class AnswerRefused(Exception):
    """An answer export refuses to read (too large, an encoding it did not ask for)."""


def read_answer(
    response: requests.Response, limit: int, deadline: Deadline, truncate: bool = False
) -> bytes:
    """The body of a streamed response, decompressed, at most `limit` bytes: more raises
    AnswerRefused (with `truncate`, the rest is left unread). The connection goes back to the
    pool when the body was read to its end, else it is closed."""
    raw = response.raw
    complete = False
    try:
        try:
            inflater = Inflater.for_encoding(response.headers.get("Content-Encoding", ""))
        except AnswerRefused:
            if truncate:
                return b""  # an error answer we cannot read: its status says enough
            raise
        length = response.headers.get("Content-Length", "").strip()
        if inflater is None and length.isdigit() and not getattr(raw, "chunked", False):
            # The size is known: refuse it at once, or read it in one piece (no join: joining
            # pieces cost ~1.2 ms per MB, mostly faulting in the pages of the joined copy)
            if int(length) > limit and not truncate:
                raise _too_large(limit)
            body = raw.read(min(int(length), limit), decode_content=False)
            deadline.check()  # the watchdog's shutdown may have cut it short
            complete = len(body) == int(length)
            if not complete and not truncate:  # http.client returns what came before the end
                raise urllib3.exceptions.ProtocolError(
                    f"the answer was cut short ({len(body)} of {length} bytes)"
                )
            return body
        pieces: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = raw.read(READ_BYTES, decode_content=False)
            deadline.check()  # also after the end: the watchdog's shutdown looks like one
            if not chunk:
                complete = True
                break
            decoded = [chunk] if inflater is None else inflater.feed(chunk, limit - size + 1)
            pieces += decoded
            size += sum(map(len, decoded))
        if not complete:
            if truncate:
                return b"".join(pieces)[:limit]
            raise _too_large(limit)
        if inflater is not None:
            inflater.check_complete()
        return b"".join(pieces)
    finally:
        if complete:
            raw.release_conn()
        else:
            response.close()


def _too_large(limit: int) -> AnswerRefused:
    return AnswerRefused(
        f"an answer larger than {limit / MiB:g} MiB (--max-answer): lower --limit so that "
        "searches return fewer traces, or raise --max-answer"
    )


class Inflater:
    """gzip/deflate decoding whose output per call is bounded (zlib's max_length), so a small
    compressed answer cannot expand past the answer limit in memory."""

    def __init__(self, gzip: bool) -> None:
        self.gzip = gzip
        # gzip: a gzip header; deflate: a zlib stream, or (seen in the wild) raw deflate
        self.wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
        self.decoder = zlib.decompressobj(self.wbits)
        self.first = True
        self.members = 0

    @staticmethod
    def for_encoding(header: str) -> Inflater | None:
        """The decoder for a Content-Encoding header (None: identity)."""
        encoding = header.strip().lower()
        if encoding in ("", "identity"):
            return None
        if encoding in ("gzip", "x-gzip"):
            return Inflater(gzip=True)
        if encoding == "deflate":
            return Inflater(gzip=False)
        raise AnswerRefused(
            f"an answer in Content-Encoding {one_line(encoding)[:40]!r}, which was not asked "
            "for (gzip, deflate)"
        )

    def feed(self, data: bytes, room: int) -> list[bytes]:
        """Decode `data` into pieces of at most INFLATE_STEP bytes, at most `room` bytes in
        all (then stop: the caller refuses). Small steps also keep zlib from holding a piece
        twice while it assembles it: a 2 GiB bomb costs `room` bytes, not twice that."""
        out: list[bytes] = []
        produced = 0
        while data and produced < room:
            try:
                piece = self.decoder.decompress(data, min(INFLATE_STEP, room - produced))
            except zlib.error as exc:
                if self.first and not self.gzip:  # not a zlib stream: raw deflate
                    self.first = False
                    self.wbits = -zlib.MAX_WBITS
                    self.decoder = zlib.decompressobj(self.wbits)
                    continue
                if self.members:
                    return out  # trailing garbage after a member, as urllib3 allows
                raise urllib3.exceptions.DecodeError(f"bad {self._name} data: {exc}") from None
            self.first = False
            out.append(piece)
            produced += len(piece)
            data = self.decoder.unconsumed_tail
            if self.decoder.eof:
                self.members += 1
                data = self.decoder.unused_data
                if not (self.gzip and data):
                    break
                self.decoder = zlib.decompressobj(self.wbits)  # another gzip member follows
        return out

    def check_complete(self) -> None:
        if not self.decoder.eof and not self.members:
            raise urllib3.exceptions.DecodeError(f"the {self._name} answer is cut short")

    @property
    def _name(self) -> str:
        return "gzip" if self.gzip else "deflate"


def error_detail(body: bytes) -> str:
    """The message of an error answer (Jaeger's JSON error, or the text), one short line."""
    try:
        payload: Any = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        text = body.decode("utf-8", errors="replace")
        return one_line(text)
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return one_line(str(error.get("message", "")))
        errors = payload.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            return one_line(str(first.get("msg", first) if isinstance(first, dict) else first))
    return one_line(str(payload))


def one_line(text: str) -> str:
    printable = "".join(char if char.isprintable() else " " for char in text[:400])
    return " ".join(printable.split())[:200]
