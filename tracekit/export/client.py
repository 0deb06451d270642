"""HTTP access to a Jaeger query service: auth, TLS, limits, retries with backoff and jitter.

Transient failures (connection errors, resets, bodies cut short, timeouts, 429, 5xx) are
retried with exponential backoff and full jitter, honouring ``Retry-After``. Everything a user
can cause (bad URL, 4xx, auth, TLS, a server that stays unreachable) becomes one ``UserError``
line.

A Jaeger, or whatever answers in its place, is not trusted:

- each request has one deadline for everything (connecting, waiting, reading the whole answer):
  a watchdog shuts the socket down when it passes, so an answer dripping a byte at a time ends;
- an answer is read, and decompressed, at most ``max_answer_bytes`` (a gzip bomb stops there);
- redirects are followed by hand, at most MAX_REDIRECTS, and the credentials (the token, basic
  auth, every ``--header``) go only to the origin (scheme, host, port) of ``--jaeger``;
- messages show the URL without user info or query, and pass through a Scrubber that removes
  the credentials and anything shaped like one, including what a server echoes back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import msgspec
import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.connectionpool

from tracekit.errors import UserError
from tracekit.export.redact import Scrubber

log = logging.getLogger("tracekit.export")

USER_ENV = "TRACEKIT_JAEGER_USER"
PASSWORD_ENV = "TRACEKIT_JAEGER_PASSWORD"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
MiB = 1 << 20
# An error answer is only read for its message: a bomb there costs no more than this.
ERROR_BODY_BYTES = 64 * 1024
# Raw bytes read per call. A 200 answer used to be read in one piece (requests' `.content`
# reads 10 KB at a time, three times the CPU on answers of many MB); 1 MiB pieces cost the same
# as one piece (103 MB of v3 answers: within the noise) and let the size limit act early.
READ_BYTES = MiB
INFLATE_STEP = 4 * MiB  # decompressed bytes per zlib call


@dataclass
class ClientOptions:
    """How to reach Jaeger. Secrets are never stored here, only the names of their variables."""

    url: str
    token_env: str | None = None
    headers: list[str] = field(default_factory=list)
    ca_bundle: str | None = None
    insecure: bool = False
    connect_timeout: float = 5.0
    timeout: float = 60.0  # one request in all: connect, wait, read the whole answer
    max_answer_bytes: int = 128 * MiB  # decompressed; each of the parallel requests
    retries: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    pool_size: int = 8


class NotFound(Exception):
    """The server answered 404 (a search with no traces, a trace id it no longer has)."""


class _DeadlinePassed(Exception):
    """The request's deadline passed (the watchdog has shut its socket down)."""


class _BadAnswer(Exception):
    """An answer export refuses to read (too large, an encoding it did not ask for)."""


class _Transient(Exception):
    """A failure worth retrying; the message describes it (no secrets: it is scrubbed)."""

    def __init__(self, problem: str, wait: float | None = None) -> None:
        super().__init__(problem)
        self.wait = wait


class JaegerClient:
    """A thread-safe GET client bound to one Jaeger base URL.

    >>> client = JaegerClient(ClientOptions("http://127.0.0.1:16686"))  # doctest: +SKIP
    >>> client.get("/api/services")  # doctest: +SKIP
    b'{"data":["mes-api", ...'
    """

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self.base_url = _check_url(options.url)
        self.display_url = safe_url(self.base_url)
        self.origin = _origin(self.base_url)
        # Sent only to self.origin (never in the session's headers, which every hop gets).
        self.credentials = _auth_headers(options, self.base_url)
        self.scrubber = Scrubber.for_headers(self.credentials)
        self.session = requests.Session()
        adapter = _WatchedAdapter(
            pool_connections=options.pool_size, pool_maxsize=options.pool_size, max_retries=0
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["Accept"] = "application/json"
        # Only what _Inflater decodes (requests would also offer br/zstd when installed).
        self.session.headers["Accept-Encoding"] = "gzip, deflate"
        self.session.headers["User-Agent"] = "tracekit-export"
        # Passed with every request: a session-level setting would lose to REQUESTS_CA_BUNDLE
        # (requests lets the environment override Session.verify), silently ignoring the flags.
        self.verify: bool | str = True
        if options.insecure:
            self.verify = False
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        elif options.ca_bundle:
            if not os.path.isfile(options.ca_bundle):
                raise UserError(f"--ca-bundle {options.ca_bundle}: no such file")
            self.verify = options.ca_bundle
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credential values this client sends (to keep them out of everything stored)."""
        return self.scrubber.secrets

    def count(self, key: str, amount: int = 1) -> None:
        """Add to a named counter (requests, retries, bytes, ...)."""
        with self._stats_lock:
            self.stats[key] += amount

    def url_for(self, path: str) -> str:
        """The absolute URL of an API path."""
        return self.base_url + path

    def get(self, path: str, params: list[tuple[str, str]] | None = None) -> bytes:
        """GET `path` (with query `params`) and return the body of a 200 answer.

        Raises NotFound on 404 and UserError on other 4xx, TLS errors, answers over the size
        limit, or when retries are exhausted.
        """
        url = self.url_for(path)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(url, params)
            except _Transient as transient:
                problem, wait = self.scrubber.scrub(str(transient)), transient.wait
            if attempt > self.options.retries:
                raise UserError(
                    f"{self.display_url}: {problem} (gave up after {attempt} attempts on {path})"
                )
            delay = wait if wait is not None else self._backoff(attempt)
            self.count("retries")
            self.count(f"retry:{problem.split(':')[0]}")
            log.info(
                "retry %d/%d for %s in %.1fs: %s",
                attempt,
                self.options.retries,
                path,
                delay,
                problem,
            )
            time.sleep(delay)

    def _attempt(self, url: str, params: list[tuple[str, str]] | None) -> bytes:
        """One request (redirects included) under one deadline: the body of a 200 answer."""
        self.count("requests")
        deadline = _Deadline(self.options.timeout)
        try:
            response = self._follow(url, params, deadline)
            status = response.status_code
            if status != 200:
                detail = _read_body(response, ERROR_BODY_BYTES, deadline, truncate=True)
                self._refuse(url, status, response, detail)
            body = _read_body(response, self.options.max_answer_bytes, deadline)
        except _BadAnswer as exc:
            path = urlsplit(url).path
            raise UserError(self.scrubber.scrub(f"{self.display_url}: {exc} (on {path})")) from None
        except (
            _DeadlinePassed,
            urllib3.exceptions.HTTPError,
            requests.exceptions.RequestException,
            OSError,
        ) as exc:
            raise self._failure(exc, deadline) from None
        finally:
            deadline.finish()
        self.count("bytes", len(body))
        return body

    def _follow(
        self, url: str, params: list[tuple[str, str]] | None, deadline: _Deadline
    ) -> requests.Response:
        """The first answer that is not a redirect. Credentials go to our origin only: requests
        would drop Authorization on a cross-host redirect but forward every --header."""
        path = urlsplit(url).path
        for _hop in range(MAX_REDIRECTS + 1):
            headers = self.credentials if _origin(url) == self.origin else {}
            response = deadline.run(self._get, url, params, headers)
            if response.status_code not in REDIRECT_STATUSES:
                return response
            location = response.headers.get("Location", "")
            response.close()
            target = urljoin(url, location.strip())
            if not location or urlsplit(target).scheme not in ("http", "https"):
                raise UserError(
                    f"{self.display_url}: HTTP {response.status_code} on {path} redirects to "
                    f"{_display_raw(location) or 'nowhere'!r}, not an http(s) URL"
                )
            url, params = target, None  # the query is the Location's now
        raise UserError(
            f"{self.display_url}: more than {MAX_REDIRECTS} redirects from {path} "
            "(a redirect loop?): give --jaeger the URL they lead to"
        )

    def _get(
        self, url: str, params: list[tuple[str, str]] | None, headers: dict[str, str]
    ) -> requests.Response:
        return self.session.get(
            url,
            params=params,
            headers=headers,
            timeout=(self.options.connect_timeout, self.options.timeout),
            allow_redirects=False,
            verify=self.verify,
            stream=True,
        )

    def _refuse(self, url: str, status: int, response: requests.Response, body: bytes) -> None:
        """Raise what a non-200 answer means: NotFound, a transient problem, or a UserError."""
        if status == 404:
            raise NotFound(url)
        if status == 500 and b"search depth" in body:
            # The memory store refuses a limit above its max_traces: no retry will help.
            detail = self.scrubber.scrub(_error_detail(body))
            raise UserError(f"{self.display_url}: {detail}; lower --limit")
        if status in RETRY_STATUSES:
            raise _Transient(f"HTTP {status}", _retry_after(response))
        raise UserError(
            self.scrubber.scrub(_client_error(self.display_url, url, status, body)),
        )

    def _failure(self, exc: BaseException, deadline: _Deadline) -> BaseException:
        """What a failed request means: a transient problem, or a UserError."""
        if deadline.expired:
            return _Transient(f"no complete answer within {self.options.timeout:g}s (--timeout)")
        reason = self.scrubber.scrub(_reason(exc))
        if isinstance(exc, requests.exceptions.SSLError):
            return UserError(
                f"{self.display_url}: TLS error: {reason}; use --ca-bundle FILE for a private "
                "CA, or --insecure to skip verification"
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return _Transient("connect timeout")
        if isinstance(exc, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
            return _Transient(f"no answer within {self.options.timeout:g}s (--timeout)")
        if isinstance(
            exc,
            requests.exceptions.InvalidURL
            | requests.exceptions.InvalidHeader
            | requests.exceptions.InvalidSchema
            | requests.exceptions.MissingSchema
            | requests.exceptions.URLRequired,
        ):
            return UserError(f"{self.display_url}: invalid request: {reason}")
        if isinstance(exc, OSError) and not isinstance(
            exc, requests.exceptions.RequestException | ConnectionError | socket.timeout
        ):
            # e.g. a --ca-bundle that is not PEM: nothing a retry changes
            return UserError(f"{self.display_url}: {reason}")
        return _Transient(f"connection error: {reason}")

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spreads retries of parallel fetchers apart.
        ceiling = min(self.options.backoff_max, self.options.backoff * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()


def _read_body(
    response: requests.Response, limit: int, deadline: _Deadline, truncate: bool = False
) -> bytes:
    """The body of a streamed response, decompressed, at most `limit` bytes: more raises
    _BadAnswer (with `truncate`, the rest is left unread). The connection goes back to the
    pool when the body was read to its end, else it is closed."""
    raw = response.raw
    complete = False
    try:
        try:
            inflater = _Inflater.for_encoding(response.headers.get("Content-Encoding", ""))
        except _BadAnswer:
            if truncate:
                return b""  # an error answer we cannot read: its status says enough
            raise
        length = response.headers.get("Content-Length", "").strip()
        if not truncate and inflater is None and length.isdigit() and int(length) > limit:
            raise _too_large(limit)
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


def _too_large(limit: int) -> _BadAnswer:
    return _BadAnswer(
        f"an answer larger than {limit / MiB:g} MiB (--max-answer): lower --limit so that "
        "searches return fewer traces, or raise --max-answer"
    )


class _Inflater:
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
    def for_encoding(header: str) -> _Inflater | None:
        """The decoder for a Content-Encoding header (None: identity)."""
        encoding = header.strip().lower()
        if encoding in ("", "identity"):
            return None
        if encoding in ("gzip", "x-gzip"):
            return _Inflater(gzip=True)
        if encoding == "deflate":
            return _Inflater(gzip=False)
        raise _BadAnswer(
            f"an answer in Content-Encoding {_one_line(encoding)[:40]!r}, which was not asked "
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


class _Deadline:
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
            raise _DeadlinePassed

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
    """Connection mixin: hand the socket to the current request's _Deadline, once connected
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


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections register with the current request's _Deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {  # type: ignore[attr-defined]
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }


def safe_url(url: str) -> str:
    """The URL without user info, query or fragment: safe for logs, errors and the manifest.

    >>> safe_url("https://bob:secret@jaeger.example:443/jaeger?token=x")
    'https://jaeger.example:443/jaeger'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _display_raw(url: str) -> str:
    """A URL that may not parse, shown without user info, query or fragment.

    >>> _display_raw("jaeger://bob:pw@host:99999/x?token=t#f")
    'jaeger://host:99999/x'
    """
    text = url.strip().split("#", 1)[0].split("?", 1)[0]
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    authority, slash, path = rest.partition("/")
    authority = authority.rsplit("@", 1)[-1]
    shown = (f"{scheme}://" if sep else "") + authority + slash + path
    return "".join(char if char.isprintable() else "?" for char in shown)[:200]


def _check_url(url: str) -> str:
    shown = _display_raw(url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises ValueError on a bad port
        hostname = parts.hostname
    except ValueError as exc:
        raise UserError(f"--jaeger {shown!r}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise UserError(f"--jaeger {shown!r}: not an http(s) URL like http://localhost:16686")
    if port == 0:
        raise UserError(f"--jaeger {shown!r}: port 0 is not a port a server listens on")
    if any(not char.isprintable() or char.isspace() for char in parts.netloc):
        raise UserError(f"--jaeger {shown!r}: the host part holds spaces or control characters")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), port


def _auth_headers(options: ClientOptions, base_url: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for header in options.headers:
        name, sep, value = header.partition(":")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"--header {_shown_name(name)!r}...: expected 'Name: value'")
        if not _is_token(name):
            raise UserError(f"--header {_shown_name(name)!r}: not a valid header name")
        if not _is_header_value(value.strip()):
            raise UserError(
                f"--header {name!r}: the value holds line breaks or characters a header cannot "
                "carry"
            )
        headers[name] = value.strip()
    if options.token_env:
        token = os.environ.get(options.token_env)
        if not token or not token.strip():
            raise UserError(f"--token-env {options.token_env}: the variable is not set or empty")
        if not _is_header_value(token.strip()):
            raise UserError(
                f"--token-env {options.token_env}: the token holds line breaks or characters "
                "a header cannot carry"
            )
        headers["Authorization"] = f"Bearer {token.strip()}"
    user = os.environ.get(USER_ENV)
    parts = urlsplit(base_url)
    if user is None and (parts.username or parts.password):
        raise UserError(f"--jaeger: put credentials in {USER_ENV}/{PASSWORD_ENV}, not the URL")
    if user is not None and "Authorization" not in headers:
        import base64

        password = os.environ.get(PASSWORD_ENV, "")
        try:
            encoded = base64.b64encode(f"{user}:{password}".encode("latin-1")).decode()
        except UnicodeEncodeError:
            encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {encoded}"
    return headers


_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def _is_token(name: str) -> bool:
    """An RFC 9110 field name."""
    return all(char in _TOKEN_CHARS for char in name)


def _is_header_value(value: str) -> bool:
    """Sendable as a header value: latin-1, no control characters (no header injection)."""
    return all(char == "\t" or (" " <= char <= "\xff" and char != "\x7f") for char in value)


def _shown_name(name: str) -> str:
    return "".join(char if char.isprintable() else "?" for char in name)[:60]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, 60.0))


def _client_error(display_url: str, url: str, status: int, body: bytes) -> str:
    path = urlsplit(url).path
    if status in (401, 403):
        what = "unauthorized" if status == 401 else "forbidden"
        return (
            f"{display_url}: HTTP {status} {what} on {path}: check the credentials "
            f"(--token-env VAR, {USER_ENV}/{PASSWORD_ENV}, --header)"
        )
    detail = _error_detail(body)
    return f"{display_url}: HTTP {status} on {path}" + (f": {detail}" if detail else "")


def _error_detail(body: bytes) -> str:
    """The message of an error answer (Jaeger's JSON error, or the text), one short line."""
    try:
        payload: Any = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        text = body.decode("utf-8", errors="replace")
        return _one_line(text)
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return _one_line(str(error.get("message", "")))
        errors = payload.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            return _one_line(str(first.get("msg", first) if isinstance(first, dict) else first))
    return _one_line(str(payload))


def _one_line(text: str) -> str:
    printable = "".join(char if char.isprintable() else " " for char in text[:400])
    return " ".join(printable.split())[:200]


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests exception, in one short line."""
    inner: BaseException = exc
    seen = {id(inner)}
    while True:
        nxt = inner.__cause__ or inner.__context__
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        inner = nxt
    text = str(inner) or type(inner).__name__
    reason = getattr(inner, "reason", None)
    if reason:  # urllib3 errors wrap the real reason
        text = str(reason)
    return _one_line(text)
