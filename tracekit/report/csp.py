"""A Content-Security-Policy for report pages: only the page's own scripts run.

Escaping (:mod:`tracekit.report.escape`) keeps trace data from becoming markup; the policy is the
second wall. It is a ``<meta http-equiv>`` tag (the pages open from disk or a mail attachment,
where no server sends headers) placed first in ``<head>``, and it allows exactly the inline
scripts the page was written with, by their SHA-256 hashes: anything that would come out of
data (an injected ``<script>``, an ``onerror=`` attribute, a ``javascript:`` link) is refused by
the browser. Nothing may be fetched (``default-src 'none'``; images and fonts only as ``data:``
URLs), and no ``eval``: the charts are drawn with Vega's expression interpreter
(``ast: true``) instead of compiled expressions. Inline styles stay allowed (pandas tables and
the notebook theme use them; a style cannot run script).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable


def script_hash(body: str) -> str:
    """The ``'sha256-...'`` source allowing an inline script whose text is exactly ``body``."""
    digest = hashlib.sha256(body.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def policy(script_sources: Iterable[str]) -> str:
    """The policy text allowing ``script_sources`` (hash sources) and nothing else to run."""
    scripts = " ".join(script_sources) or "'none'"
    return (
        "default-src 'none'; "
        f"script-src {scripts}; "
        "style-src 'unsafe-inline'; "
        "img-src data:; font-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def with_csp(page: str, scripts: Iterable[str] = ()) -> str:
    """``page`` with a CSP ``<meta>`` first in its ``<head>`` that lets only ``scripts`` run.

    ``scripts`` are the texts of the inline scripts this package wrote (the chart scripts of
    :mod:`tracekit.report.charts`); they are hashed from our own copies, never collected from
    the page, so a script that got into the page any other way stays blocked.
    """
    sources = sorted({script_hash(body) for body in scripts})
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy(sources)}">'
    head = re.search(r"<head[^>]*>", page, re.I)
    if head is None:
        raise ValueError("the page has no <head> to carry its Content-Security-Policy")
    return page[: head.end()] + "\n" + meta + page[head.end() :]
