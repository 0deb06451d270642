"""The --jaeger URL: checked, shown without secrets, and the origin credentials are bound to."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from tracekit.errors import UserError


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


def display_raw(url: str) -> str:
    """A URL that may not parse, shown without user info, query or fragment.

    >>> display_raw("jaeger://bob:pw@host:99999/x?token=t#f")
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


def check_url(url: str) -> str:
    shown = display_raw(url)
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


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), port
