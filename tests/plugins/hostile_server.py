"""A hostile or broken "Jaeger" on loopback, plus its pytest fixtures.

It answers Jaeger's query API (services, searches, traces by id; classic and v3) with a small
valid trace, except where a rule says otherwise::

    def test_bomb(hostile):
        hostile.add("bomb", path="/api/v3/traces", size=2 << 30)    # gzip: 2 MB -> 2 GiB
        hostile.add("huge", path="/api/services", size=400 << 20)   # 400 MB, no length
        hostile.add("drip", delay=1.0)                               # a byte a second
        hostile.add("drip_head")                                     # ... of the headers too
        hostile.add("redirect")                                      # to itself, for ever
        hostile.add("redirect", location=other.url + "/api/services")   # to another host
        hostile.add("echo", code=400)      # an error quoting the request's credentials
        hostile.add("echo_spans")          # a valid answer whose spans quote them
        hostile.add("nested", depth=100_000)                         # [[[[...]]]]
        hostile.add("answer", code=200, body=b"...", headers={...})  # anything else

Every long answer is bounded server-side (`until` seconds, `size` bytes) and stops when the
client goes away or the server closes, so nothing outlives a test. The server plumbing and
rule claiming are FaultProxy's (tests/plugins/fault_proxy.py); `second_host` is the same
server on another loopback address (127.0.0.2), which counts as another host for a client.
"""

from __future__ import annotations

import functools
import json
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.plugins.fault_proxy import BaseHandler, LoopbackServer

CASES = Path(__file__).resolve().parents[1] / "cases" / "import"
HOSTILITIES = (
    "bomb",
    "huge",
    "drip",
    "drip_head",
    "redirect",
    "echo",
    "echo_spans",
    "nested",
    "answer",
)
MiB = 1 << 20


@dataclass
class Hostility:
    """One way of answering, for `times` matching requests (None: every one)."""

    kind: str
    path: str | None = None
    times: int | None = None
    skip: int = 0
    code: int = 200
    size: int = 2 << 30  # bomb: bytes it expands to; huge: bytes sent
    encoding: str = "gzip"  # bomb: gzip or deflate
    framing: str = "chunked"  # huge: "length", "chunked" or "close"
    delay: float = 1.0  # drip: seconds between bytes
    until: float = 120.0  # drip: the server gives up after this long
    location: str | None = None  # redirect: where to (None: the same URL, a loop)
    depth: int = 100_000  # nested
    body: bytes = b""  # answer
    headers: dict[str, str] = field(default_factory=dict)  # answer

    def matches(self, path: str) -> bool:
        return self.path is None or self.path in path

    @property
    def label(self) -> str:
        return self.kind


class HostileServer(LoopbackServer):
    """A fake Jaeger whose rules make it misbehave (see the module docstring)."""

    SERVICES = ("shop-api", "mes")

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(_HostileHandler, host)

    def add(self, kind: str, **options: object) -> Hostility:
        """Add a rule (keywords: Hostility's fields)."""
        if kind not in HOSTILITIES:
            raise ValueError(f"unknown hostility {kind!r}; one of {HOSTILITIES}")
        rule = Hostility(kind, **options)  # type: ignore[arg-type]
        self._add(rule)
        return rule


def classic_answer(extra_tags: list[dict] | None = None) -> bytes:
    """The valid classic search answer: tests/cases/import/good-trace.json."""
    document = json.loads((CASES / "good-trace.json").read_text())
    if extra_tags:
        for trace in document["data"]:
            for span in trace["spans"]:
                span["tags"] = [*span.get("tags", []), *extra_tags]
    return json.dumps(document, separators=(",", ":")).encode()


def v3_answer(extra_attributes: list[dict] | None = None) -> bytes:
    """The same trace as the v3 API writes it: tests/cases/import/good-trace.otlp.json."""
    document = json.loads((CASES / "good-trace.otlp.json").read_text())
    if extra_attributes:
        for resource in document["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    span["attributes"] = [*span.get("attributes", []), *extra_attributes]
    return json.dumps({"result": document}, separators=(",", ":")).encode()


@functools.lru_cache(maxsize=4)
def bomb(size: int, encoding: str = "gzip") -> bytes:
    """`size` bytes of spaces, gzip- or zlib-compressed to ~1/1000 of that.

    Built from one independently decodable deflate segment (compressed, then fully flushed)
    repeated, so a 2 GiB bomb takes a second to make instead of compressing 2 GiB.
    """
    piece = 1 * MiB
    count, rest = divmod(size, piece)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = compressor.compress(b" " * piece) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    last = tail.compress(b" " * rest) + tail.flush(zlib.Z_FINISH)
    plain = b" " * piece
    if encoding == "gzip":
        check = 0
        for _ in range(count):
            check = zlib.crc32(plain, check)
        check = zlib.crc32(b" " * rest, check)
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        trailer = struct.pack("<II", check, size & 0xFFFFFFFF)
    else:
        check = 1
        for _ in range(count):
            check = zlib.adler32(plain, check)
        check = zlib.adler32(b" " * rest, check)
        header = b"\x78\xda"
        trailer = struct.pack(">I", check)
    return header + segment * count + last + trailer


class _HostileHandler(BaseHandler):
    owner: HostileServer

    def _serve(self) -> None:
        rule = self.owner._claim(self.path, dict(self.headers.items()))
        if rule is None:
            self._jaeger()
            return
        method = "_given_answer" if rule.kind == "answer" else f"_{rule.kind}"
        getattr(self, method)(rule)

    # -- a well-behaved Jaeger ---------------------------------------------------------------
    def _jaeger(self, classic: bytes | None = None, v3: bytes | None = None) -> None:
        path = self.path.split("?", 1)[0]
        services = list(HostileServer.SERVICES)
        if path == "/api/services":
            self._answer(200, json.dumps({"data": services, "total": len(services)}).encode())
        elif path == "/api/v3/services":
            self._answer(200, json.dumps({"services": services}).encode())
        elif path.startswith("/api/v3/traces"):
            self._answer(200, v3 or v3_answer())
        elif path.startswith("/api/traces"):
            self._answer(200, classic or classic_answer())
        else:
            self._answer(404, b'{"error": {"code": 404, "message": "not found"}}')

    # -- hostilities --------------------------------------------------------------------------
    def _bomb(self, rule: Hostility) -> None:
        payload = bomb(rule.size, rule.encoding)
        self._answer(rule.code, payload, Content_Encoding=rule.encoding)

    def _huge(self, rule: Hostility) -> None:
        headers = [("Content-Type", "application/json")]
        if rule.framing == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
        elif rule.framing == "close":
            headers.append(("Connection", "close"))
            self.close_connection = True
        self._send_head(rule.code, headers, rule.size if rule.framing == "length" else None)
        piece = b" " * MiB
        sent = 0
        while sent < rule.size and not self.owner.stopping.is_set():
            part = piece[: min(MiB, rule.size - sent)]
            if rule.framing == "chunked":
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            else:
                self.wfile.write(part)
            sent += len(part)
        if rule.framing == "chunked":
            self.wfile.write(b"0\r\n\r\n")

    def _drip(self, rule: Hostility) -> None:
        headers = [("Content-Type", "application/json"), ("Connection", "close")]
        self._send_head(rule.code, headers, None)
        self.close_connection = True
        self._drip_bytes(b'{"data": [', b" ", rule)

    def _drip_head(self, rule: Hostility) -> None:
        self.close_connection = True
        self._drip_bytes(b"HTTP/1.1 200 OK\r\nX-Drip: ", b"a", rule)

    def _drip_bytes(self, start: bytes, then: bytes, rule: Hostility) -> None:
        """`start`, then `then` for ever, a byte every `delay` s, until `until` s have passed."""
        began = time.monotonic()
        index = 0
        while not self.owner.stopping.is_set() and time.monotonic() - began < rule.until:
            byte = start[index : index + 1] or then
            self.wfile.write(byte)
            self.wfile.flush()
            index += 1
            self.owner.stopping.wait(rule.delay)

    def _redirect(self, rule: Hostility) -> None:
        location = rule.location or self.path
        code = rule.code if rule.code in (301, 302, 303, 307, 308) else 302
        self._answer(code, b"", Location=location)

    def _echo(self, rule: Hostility) -> None:
        """An error that quotes the credentials it was sent, as careless servers do."""
        sent = [value for key, value in self.headers.items() if key.lower() != "host"]
        message = f"invalid credential: {self.headers.get('Authorization', '')}; got {sent}"
        error = {"error": {"code": rule.code, "message": message}}
        self._answer(rule.code, json.dumps(error).encode())

    def _echo_spans(self, rule: Hostility) -> None:
        """A valid answer whose spans carry the request's headers (as an instrumented proxy
        recording request headers would)."""
        pairs = [
            (f"http.request.header.{key.lower()}", value) for key, value in self.headers.items()
        ]
        classic = classic_answer([{"key": k, "type": "string", "value": v} for k, v in pairs])
        v3 = v3_answer([{"key": k, "value": {"stringValue": v}} for k, v in pairs])
        self._jaeger(classic, v3)

    def _nested(self, rule: Hostility) -> None:
        nest = b"[" * rule.depth + b"]" * rule.depth
        path = self.path.split("?", 1)[0]
        if path.startswith("/api/v3/traces"):
            body = b'{"result":{"resourceSpans":[' + nest + b"]}}"
        elif path.startswith("/api/v3"):
            body = b'{"services":' + nest + b"}"
        else:
            body = b'{"data":[' + nest + b"]}"
        self._answer(rule.code, body)

    def _given_answer(self, rule: Hostility) -> None:
        self._send_head(rule.code, list(rule.headers.items()), len(rule.body))
        self.wfile.write(rule.body)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    """A HostileServer on 127.0.0.1 (no rules yet: a tiny, valid Jaeger)."""
    server = HostileServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def second_host() -> Iterator[HostileServer]:
    """Another HostileServer, on 127.0.0.2: another host for the client."""
    server = HostileServer("127.0.0.2")
    try:
        yield server
    finally:
        server.close()
