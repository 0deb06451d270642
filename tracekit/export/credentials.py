"""The credentials export sends: a bearer token, basic auth, --header values.

They come from the environment (the token's variable named by ``--token-env``;
``TRACEKIT_JAEGER_USER``/``TRACEKIT_JAEGER_PASSWORD``) and ``--header`` flags, never from the URL,
and are checked to be sendable as headers (no line breaks: no header injection).
"""

from __future__ import annotations

import base64
import os
from urllib.parse import urlsplit

from tracekit.errors import UserError

USER_ENV = "TRACEKIT_JAEGER_USER"
PASSWORD_ENV = "TRACEKIT_JAEGER_PASSWORD"


def credential_headers(headers: list[str], token_env: str | None, base_url: str) -> dict[str, str]:
    """The credential headers to send, by name (UserError when one is unusable)."""
    found: dict[str, str] = {}
    for header in headers:
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
        found[name] = value.strip()
    if token_env:
        token = os.environ.get(token_env)
        if not token or not token.strip():
            raise UserError(f"--token-env {token_env}: the variable is not set or empty")
        if not _is_header_value(token.strip()):
            raise UserError(
                f"--token-env {token_env}: the token holds line breaks or characters "
                "a header cannot carry"
            )
        found["Authorization"] = f"Bearer {token.strip()}"
    user = os.environ.get(USER_ENV)
    parts = urlsplit(base_url)
    if user is None and (parts.username or parts.password):
        raise UserError(f"--jaeger: put credentials in {USER_ENV}/{PASSWORD_ENV}, not the URL")
    if user is not None and "Authorization" not in found:
        password = os.environ.get(PASSWORD_ENV, "")
        try:
            encoded = base64.b64encode(f"{user}:{password}".encode("latin-1")).decode()
        except UnicodeEncodeError:
            encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        found["Authorization"] = f"Basic {encoded}"
    return found


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
