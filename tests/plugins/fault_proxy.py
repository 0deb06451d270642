"""A fault-injecting HTTP proxy in front of a real server, plus its pytest fixture.

Tests put it between ``tracekit export`` and the real Jaeger and say which requests go wrong::

    def test_retries(fault_proxy):
        fault_proxy.add("status", 503, times=2)            # next two requests answer 503
        fault_proxy.add("reset", path="/api/v3/traces")    # one connection reset on a search
        fault_proxy.add("cut", path="/api/traces", times=3, after=0.5)  # half a body, then close
        fault_proxy.add("slow", delay=3.0)                 # answer after 3 s
        fault_proxy.add("status", 401, times=None)         # every request from now on
        fault_proxy.add("rewrite", path="/api/traces?", transform=drop_roots)  # edit the body
        ... run export against fault_proxy.url ...
        assert fault_proxy.served["status:503"] == 2

Rules are consulted in the order added; the first one whose path matches and which has uses
left fires. Requests no rule claims are forwarded untouched. It is plain standard library and
knows nothing of tracekit. Its server plumbing (LoopbackServer, BaseHandler) also serves the
hostile Jaeger of tests/plugins/hostile_server.py.
"""

from __future__ import annotations

import collections
import http.client
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

import pytest

FAULTS = ("status", "reset", "cut", "slow", "rewrite")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class Rule:
    """One kind of fault, for `times` matching requests (None: all of them)."""

    fault: str
    code: int = 503
    path: str | None = None
    times: int | None = 1
    delay: float = 0.0
    after: float = 0.5  # "cut": fraction of the body sent before the connection is closed
    skip: int = 0  # let this many matching requests through first
    retry_after: str | None = None
    transform: Callable[[bytes], bytes] | None = None  # "rewrite": new body from the old one

    def matches(self, path: str) -> bool:
        return self.path is None or self.path in path

    @property
    def label(self) -> str:
        """How `served` counts it."""
        return f"{self.fault}:{self.code}" if self.fault == "status" else self.fault


class ClaimedRule(Protocol):
    """What LoopbackServer needs of a rule."""

    path: str | None
    times: int | None
    skip: int

    def matches(self, path: str) -> bool: ...

    @property
    def label(self) -> str: ...


class LoopbackServer:
    """A threaded HTTP(S) server on a loopback address whose handler consults rules.

    Shared by FaultProxy (forwards to a real server, injecting faults) and the hostile server
    of tests/plugins/hostile_server.py (answers as a broken or malicious Jaeger would). Rules
    are consulted in the order added; the first whose path matches and which has uses left
    applies. It remembers every request's path and headers.
    """

    def __init__(
        self,
        handler: type[BaseHandler],
        host: str = "127.0.0.1",
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.rules: list[Any] = []
        self.served: collections.Counter[str] = collections.Counter()
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []  # request headers as received, in order
        self.lock = threading.Lock()
        self.stopping = threading.Event()  # long answers (drips) end when it is set
        bound = type("Handler", (handler,), {"owner": self})
        self.server = _QuietServer((host, 0), bound)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:  # (certificate file, key file): serve https
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """Base URL to give the client."""
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def clear(self) -> None:
        """Drop every rule and forget what was served."""
        with self.lock:
            self.rules.clear()
            self.served.clear()
            self.requests.clear()
            self.headers.clear()

    def faults_served(self) -> int:
        """How many requests a rule claimed (not served the default way)."""
        with self.lock:
            return sum(count for key, count in self.served.items() if key != "forwarded")

    def close(self) -> None:
        """Stop serving (answers still going out end at their next step)."""
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def _add(self, rule: ClaimedRule) -> None:
        with self.lock:
            self.rules.append(rule)

    def _claim(self, path: str, headers: dict[str, str]) -> Any:
        with self.lock:
            self.requests.append(path)
            self.headers.append(headers)
            for rule in self.rules:
                if not rule.matches(path) or rule.times == 0:
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                if rule.times is not None:
                    rule.times -= 1
                self.served[rule.label] += 1
                return rule
            self.served["forwarded"] += 1
            return None


class FaultProxy(LoopbackServer):
    """A threaded HTTP proxy to `upstream` that injects the faults of its rules."""

    def __init__(
        self, upstream: str, host: str = "127.0.0.1", tls: tuple[str, str] | None = None
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        super().__init__(_ProxyHandler, host, tls)

    def add(
        self,
        fault: str,
        code: int = 503,
        *,
        path: str | None = None,
        times: int | None = 1,
        delay: float = 0.0,
        after: float = 0.5,
        skip: int = 0,
        retry_after: str | None = None,
        transform: Callable[[bytes], bytes] | None = None,
    ) -> Rule:
        """Add a rule: "status" (answer `code`), "reset" (TCP RST, no answer), "cut" (send
        `after` of the body, then close), "slow" (wait `delay` s, then forward), "rewrite"
        (forward, then answer `transform(body)`)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}")
        rule = Rule(fault, code, path, times, delay, after, skip, retry_after, transform)
        self._add(rule)
        return rule


class _QuietServer(ThreadingHTTPServer):
    """Takes a client hanging up (a reset while reading its next request) in its stride:
    socketserver would print a traceback to stderr for it."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class BaseHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 handler plumbing: quiet, GET/POST to `_serve`, answer helpers."""

    owner: LoopbackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep test output clean

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        try:
            self._serve()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its read timeout, or a test killed it): nothing to answer.
            self.close_connection = True

    def _serve(self) -> None:
        raise NotImplementedError

    def _send_head(self, status: int, headers: list[tuple[str, str]], length: int | None) -> None:
        """Status line and headers; `length` None: no Content-Length (the caller frames it)."""
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _answer(
        self, code: int, payload: bytes, retry_after: str | None = None, **headers: str
    ) -> None:
        fields = [("Content-Type", "application/json")]
        if retry_after is not None:
            fields.append(("Retry-After", retry_after))
        fields += [(key.replace("_", "-"), value) for key, value in headers.items()]
        self._send_head(code, fields, len(payload))
        self.wfile.write(payload)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class _ProxyHandler(BaseHandler):
    owner: FaultProxy

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rule = self.owner._claim(self.path, dict(self.headers.items()))
        if rule is not None and rule.fault == "status":
            self._answer(rule.code, b'{"error": "injected by fault proxy"}', rule.retry_after)
            return
        if rule is not None and rule.fault == "reset":
            self._reset()
            return
        if rule is not None and rule.fault == "slow":
            time.sleep(rule.delay)
        status, headers, payload = self._forward(body)
        if rule is not None and rule.fault == "rewrite" and rule.transform is not None:
            payload = rule.transform(payload)
        if rule is not None and rule.fault == "cut":
            self._send_head(status, headers, len(payload))
            self.wfile.write(payload[: int(len(payload) * rule.after)])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send_head(status, headers, len(payload))
        self.wfile.write(payload)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(
            self.owner.upstream_host, self.owner.upstream_port, timeout=60
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            kept = [
                (k, v)
                for k, v in response.getheaders()
                if k.lower() not in _HOP_HEADERS and k.lower() != "content-length"
            ]
            return response.status, kept, payload
        finally:
            upstream.close()


@pytest.fixture
def fault_proxy(jaeger) -> Iterator[FaultProxy]:  # type: ignore[no-untyped-def]
    """A FaultProxy in front of the session's real Jaeger query service (no rules yet)."""
    proxy = FaultProxy(jaeger.query_url)
    try:
        yield proxy
    finally:
        proxy.close()
