"""HTTP access to a Jaeger query service: auth, TLS, timeouts, retries with backoff and jitter.

Transient failures (connection errors, resets, bodies cut short, read timeouts, 429, 5xx) are
retried with exponential backoff and full jitter, honouring ``Retry-After``. Everything a user
can cause (bad URL, 4xx, auth, TLS, a server that stays unreachable) becomes one ``UserError``
line. Credentials live only in the session's headers: messages and logs show the URL without
user info and never a header.
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
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import requests.adapters
import urllib3

from tracekit.errors import UserError

log = logging.getLogger("tracekit.export")

USER_ENV = "TRACEKIT_JAEGER_USER"
PASSWORD_ENV = "TRACEKIT_JAEGER_PASSWORD"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class ClientOptions:
    """How to reach Jaeger. Secrets are never stored here, only the names of their variables."""

    url: str
    token_env: str | None = None
    headers: list[str] = field(default_factory=list)
    ca_bundle: str | None = None
    insecure: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    retries: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    pool_size: int = 8


class NotFound(Exception):
    """The server answered 404 (a search with no traces, a trace id it no longer has)."""


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
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=options.pool_size, pool_maxsize=options.pool_size, max_retries=0
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(_auth_headers(options, self.base_url))
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = "tracekit-export"
        # Passed with every request: a session-level setting would lose to REQUESTS_CA_BUNDLE
        # (requests lets the environment override Session.verify), silently ignoring the flags.
        self.verify: bool | str = True
        if options.insecure:
            self.verify = False
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        elif options.ca_bundle:
            if not os.path.isfile(options.ca_bundle):
                raise UserError(f"--ca-bundle {options.ca_bundle}: no such file")
            self.verify = options.ca_bundle
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()

    def count(self, key: str, amount: int = 1) -> None:
        """Add to a named counter (requests, retries, bytes, ...)."""
        with self._stats_lock:
            self.stats[key] += amount

    def url_for(self, path: str) -> str:
        """The absolute URL of an API path."""
        return self.base_url + path

    def get(self, path: str, params: list[tuple[str, str]] | None = None) -> bytes:
        """GET `path` (with query `params`) and return the body of a 200 answer.

        Raises NotFound on 404 and UserError on other 4xx, TLS errors, or when retries are
        exhausted.
        """
        url = self.url_for(path)
        attempt = 0
        while True:
            attempt += 1
            problem, wait = self._attempt(url, params)
            if isinstance(problem, bytes):
                return problem
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

    def _attempt(
        self, url: str, params: list[tuple[str, str]] | None
    ) -> tuple[bytes | str, float | None]:
        """One request: the body, or (a description of a transient problem, Retry-After)."""
        self.count("requests")
        try:
            response = self.session.get(
                url,
                params=params,
                timeout=(self.options.connect_timeout, self.options.read_timeout),
                allow_redirects=True,
                verify=self.verify,
                stream=True,
            )
            body = _read_body(response)  # a cut body raises here, inside the retry
        except urllib3.exceptions.ReadTimeoutError:
            return f"no answer within {self.options.read_timeout:g}s (read timeout)", None
        except urllib3.exceptions.HTTPError as exc:
            return f"connection error: {_reason(exc)}", None
        except requests.exceptions.SSLError as exc:
            raise UserError(
                f"{self.display_url}: TLS error: {_reason(exc)}; use --ca-bundle "
                "FILE for a private CA, or --insecure to skip verification"
            ) from exc
        except requests.exceptions.InvalidURL as exc:
            raise UserError(f"{self.display_url}: invalid URL: {_reason(exc)}") from exc
        except requests.exceptions.ConnectTimeout:
            return "connect timeout", None
        except requests.exceptions.ReadTimeout:
            return f"no answer within {self.options.read_timeout:g}s (read timeout)", None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            return f"connection error: {_reason(exc)}", None
        status = response.status_code
        if status == 200:
            self.count("bytes", len(body))
            return body, None
        if status == 404:
            raise NotFound(url)
        if status == 500 and b"search depth" in body:
            # The memory store refuses a limit above its max_traces: no retry will help.
            raise UserError(f"{self.display_url}: {_error_detail(response)}; lower --limit")
        if status in RETRY_STATUSES:
            return f"HTTP {status}", _retry_after(response)
        raise UserError(_client_error(self.display_url, url, response))

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spreads retries of parallel fetchers apart.
        ceiling = min(self.options.backoff_max, self.options.backoff * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()


def _read_body(response: requests.Response) -> bytes:
    """The whole body of a streamed response. A 200 answer is read in one piece: requests'
    ``.content`` reads 10 KB at a time, which costs three times the CPU on answers of many MB.
    Other answers go through ``.content``, which the error messages read again."""
    try:
        if response.status_code != 200:
            return response.content
        return response.raw.read(decode_content=True)  # type: ignore[no-any-return]
    finally:
        response.close()


def safe_url(url: str) -> str:
    """The URL without user info, query or fragment: safe for logs, errors and the manifest.

    >>> safe_url("https://bob:secret@jaeger.example:443/jaeger?token=x")
    'https://jaeger.example:443/jaeger'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UserError(f"--jaeger {safe_url(url)!r}: bad port in URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(
            f"--jaeger {url.split('@')[-1]!r}: not an http(s) URL like http://localhost:16686"
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _auth_headers(options: ClientOptions, base_url: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for header in options.headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise UserError(f"--header {name.strip()!r}...: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    if options.token_env:
        token = os.environ.get(options.token_env)
        if not token:
            raise UserError(f"--token-env {options.token_env}: the variable is not set or empty")
        headers["Authorization"] = f"Bearer {token.strip()}"
    user = os.environ.get(USER_ENV)
    parts = urlsplit(base_url)
    if user is None and parts.username:
        raise UserError(f"--jaeger: put credentials in {USER_ENV}/{PASSWORD_ENV}, not the URL")
    if user is not None and "Authorization" not in headers:
        import base64

        password = os.environ.get(PASSWORD_ENV, "")
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {encoded}"
    return headers


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, 60.0))


def _client_error(display_url: str, url: str, response: requests.Response) -> str:
    path = urlsplit(url).path
    status = response.status_code
    if status in (401, 403):
        what = "unauthorized" if status == 401 else "forbidden"
        return (
            f"{display_url}: HTTP {status} {what} on {path}: check the credentials "
            f"(--token-env VAR, {USER_ENV}/{PASSWORD_ENV}, --header)"
        )
    detail = _error_detail(response)
    return f"{display_url}: HTTP {status} on {path}" + (f": {detail}" if detail else "")


def _error_detail(response: requests.Response) -> str:
    try:
        payload: Any = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return str(error.get("message", ""))[:200]
        errors = payload.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            return str(first.get("msg", first) if isinstance(first, dict) else first)[:200]
    return str(payload)[:200]


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests exception, in one short line."""
    inner: BaseException = exc
    while True:
        nxt = inner.__cause__ or inner.__context__
        if nxt is None or nxt is inner:
            break
        inner = nxt
    text = str(inner) or type(inner).__name__
    if hasattr(inner, "reason") and inner.reason:  # urllib3 errors wrap the real reason
        text = str(inner.reason)
    return " ".join(text.split())[:200]
