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

import logging
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from tracekit.errors import UserError
from tracekit.export.answer import (
    ERROR_BODY_BYTES,
    AnswerRefused,
    MiB,
    error_detail,
    one_line,
    read_answer,
)
from tracekit.export.credentials import PASSWORD_ENV, USER_ENV, credential_headers
from tracekit.export.deadline import Deadline, DeadlinePassed, WatchedAdapter
from tracekit.export.redact import Scrubber
from tracekit.export.urls import check_url, display_raw, origin, safe_url

__all__ = ["ClientOptions", "JaegerClient", "NotFound", "safe_url"]

log = logging.getLogger("tracekit.export")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


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
        self.base_url = check_url(options.url)
        self.display_url = safe_url(self.base_url)
        self.origin = origin(self.base_url)
        # Sent only to self.origin (never in the session's headers, which every hop gets).
        self.credentials = credential_headers(options.headers, options.token_env, self.base_url)
        self.scrubber = Scrubber.for_headers(self.credentials)
        self.session = requests.Session()
        adapter = WatchedAdapter(
            pool_connections=options.pool_size, pool_maxsize=options.pool_size, max_retries=0
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["Accept"] = "application/json"
        # Only what answer.Inflater decodes (requests would also offer br/zstd when installed).
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
        deadline = Deadline(self.options.timeout)
        answering = False
        try:
            response = self._follow(url, params, deadline)
            answering = True
            status = response.status_code
            if status != 200:
                detail = read_answer(response, ERROR_BODY_BYTES, deadline, truncate=True)
                self._refuse(url, status, response, detail)
            body = read_answer(response, self.options.max_answer_bytes, deadline)
        except AnswerRefused as exc:
            path = urlsplit(url).path
            raise UserError(self.scrubber.scrub(f"{self.display_url}: {exc} (on {path})")) from None
        except (
            DeadlinePassed,
            urllib3.exceptions.HTTPError,
            requests.exceptions.RequestException,
            OSError,
        ) as exc:
            if deadline.expired and answering:
                # The server answered but its body outlasted the deadline: the same request
                # would again (a slow link, or a server dripping bytes), so no retry.
                raise UserError(
                    f"{self.display_url}: the answer on {urlsplit(url).path} was still arriving "
                    f"after {self.options.timeout:g}s (--timeout): raise --timeout for a slow "
                    "server or link"
                ) from None
            raise self._failure(exc, deadline) from None
        finally:
            deadline.finish()
        self.count("bytes", len(body))
        return body

    def _follow(
        self, url: str, params: list[tuple[str, str]] | None, deadline: Deadline
    ) -> requests.Response:
        """The first answer that is not a redirect. Credentials go to our origin only: requests
        would drop Authorization on a cross-host redirect but forward every --header."""
        path = urlsplit(url).path
        for _hop in range(MAX_REDIRECTS + 1):
            headers = self.credentials if origin(url) == self.origin else {}
            response = deadline.run(self._get, url, params, headers)
            if response.status_code not in REDIRECT_STATUSES:
                return response
            location = response.headers.get("Location", "")
            response.close()
            target = urljoin(url, location.strip())
            if not location or urlsplit(target).scheme not in ("http", "https"):
                raise UserError(
                    f"{self.display_url}: HTTP {response.status_code} on {path} redirects to "
                    f"{display_raw(location) or 'nowhere'!r}, not an http(s) URL"
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
            detail = self.scrubber.scrub(error_detail(body))
            raise UserError(f"{self.display_url}: {detail}; lower --limit")
        if status in RETRY_STATUSES:
            raise _Transient(f"HTTP {status}", _retry_after(response))
        raise UserError(
            self.scrubber.scrub(_client_error(self.display_url, url, status, body)),
        )

    def _failure(self, exc: BaseException, deadline: Deadline) -> BaseException:
        """What a failed request means: a transient problem, or a UserError."""
        if deadline.expired:
            return _Transient(f"no answer within {self.options.timeout:g}s (--timeout)")
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
            exc, requests.exceptions.RequestException | ConnectionError | TimeoutError
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
    detail = error_detail(body)
    return f"{display_url}: HTTP {status} on {path}" + (f": {detail}" if detail else "")


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
    return one_line(text)
