"""One deadline per request: when it passes, the socket in use is shut down.

A per-read timeout never fires on a server that drips a byte at a time, or sends headers that
never end; shutting the socket down from a timer ends any read blocked on it, TLS included.
``WatchedAdapter`` is requests' adapter whose connections hand their sockets to the current
request's ``Deadline`` (a thread-local: each fetch thread runs one request at a time).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import requests.adapters
import urllib3.connection
import urllib3.connectionpool


class DeadlinePassed(Exception):
    """The request's deadline passed (the watchdog has shut its socket down)."""


class Deadline:
    """One request's deadline: when it passes, the socket in use is shut down, which ends any
    read blocked on it (a per-read timeout never fires on a server dripping bytes)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.expired = False
        self._done = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def run(self, call: Any, *args: Any) -> Any:
        """`call(*args)` with the connections it uses watched."""
        self.check()
        _watching.deadline = self
        try:
            return call(*args)
        finally:
            _watching.deadline = None

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if not any(known is sock for known in self._sockets):
                self._sockets.append(sock)
        self.check()

    def check(self) -> None:
        """Raise DeadlinePassed once the deadline has passed (between reads of an answer)."""
        if self.expired or time.monotonic() - self.started > self.seconds:
            self.expired = True
            raise DeadlinePassed

    def finish(self) -> None:
        """The request is over: the watchdog must not touch its connection, now pooled."""
        with self._lock:
            self._done = True
            self._sockets.clear()
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                # the plain socket's shutdown, also under TLS: it acts on the descriptor
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)


_watching = threading.local()


class _Watched:
    """Connection mixin: hand the socket to the current request's Deadline, once connected
    (a reused connection already is). The socket itself, not the connection: http.client
    drops `conn.sock` when an answer says `Connection: close`, while the answer still reads
    from it."""

    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._hand_over()

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            self._hand_over()
        super().request(*args, **kwargs)  # type: ignore[misc]
        if self.sock is not None:
            self._hand_over()  # http.client connected it lazily

    def _hand_over(self) -> None:
        deadline = getattr(_watching, "deadline", None)
        if deadline is not None:
            deadline.watch(self.sock)


class _WatchedHTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections register with the current request's Deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {  # type: ignore[attr-defined]
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }
