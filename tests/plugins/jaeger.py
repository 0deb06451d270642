"""The real Jaeger v2 for tests: one instance per session on free, non-default ports.

It goes through scripts/jaeger.py (the code behind `make jaeger-up`), so tests exercise the same
install/start/stop path as developers. Without the binary and without Go the tests that use it
skip with a message saying how to enable them; with CI=true they fail instead.
"""

from __future__ import annotations

import importlib
import os
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_script(name: str) -> ModuleType:
    """Import scripts/NAME.py (not a package) by its plain name, as when the script runs, so
    scripts that import each other (jaeger, hotrod, gotool, servers) share one module each."""
    scripts = str(REPO / "scripts")
    if scripts not in sys.path:
        sys.path.append(scripts)
    return importlib.import_module(name)


def load_jaeger_script() -> ModuleType:
    """Import scripts/jaeger.py."""
    return load_script("jaeger")


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"Jaeger is required in CI: {message}", pytrace=False)
    pytest.skip(
        f"real Jaeger not available ({message}). Enable: install Go (https://go.dev/dl/) and run "
        "`make jaeger-up` once (builds Jaeger v2 into ~/.cache/tracekit), or set "
        "TRACEKIT_JAEGER_BIN"
    )


@pytest.fixture(scope="session")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running Jaeger (scripts/jaeger.py JaegerInstance): .query_url, .otlp_http_url, ...

    Started once per session on free ports with its own state file, stopped at the end.
    """
    instance = start_jaeger(tmp_path_factory.mktemp("jaeger"))
    try:
        yield instance
    finally:
        load_jaeger_script().stop(instance)


@pytest.fixture(scope="session")
def jaeger_badger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Like `jaeger`, with Jaeger's persistent Badger store (deploy/jaeger-badger.yaml) in a
    folder under the session's temporary directory: spans go through Jaeger's own model."""
    folder = tmp_path_factory.mktemp("jaeger-badger")
    instance = start_jaeger(folder, storage="badger", data_dir=folder / "data")
    try:
        yield instance
    finally:
        load_jaeger_script().stop(instance)


def ensure_jaeger() -> ModuleType:
    """scripts/jaeger.py, its binary built when missing (skips, or fails in CI, when Jaeger is
    unavailable)."""
    script = load_jaeger_script()
    try:
        script.ensure_binary()
    except script.JaegerUnavailable as error:
        _unavailable(str(error))
    except script.JaegerError as error:
        _unavailable(f"build failed: {error}")
    return script


def start_jaeger(folder: Path, **options: Any) -> Any:
    """A fresh Jaeger on free ports, its state file and log in `folder` (skips, or fails in CI,
    when Jaeger is unavailable); `options` go to scripts/jaeger.py's start (e.g.
    storage="badger", data_dir=...). The caller stops it with `script.stop`."""
    script = ensure_jaeger()
    names = list(script.DEFAULT_PORTS)
    last_error = None
    for _attempt in range(3):  # a free port can be taken between choosing and binding it
        ports = dict(zip(names, script.free_ports(len(names)), strict=True))
        try:
            return script.start(
                ports, state_file=folder / "state.json", log_file=folder / "jaeger.log", **options
            )
        except script.JaegerError as error:
            last_error = error
    pytest.fail(f"could not start Jaeger: {last_error}", pytrace=False)


def save_searches(
    query_url: str, services: Iterable[str], window_us: tuple[int, int], folder: Path
) -> list[Path]:
    """Save Jaeger's own classic /api/traces answer for each of ``services`` in ``window_us``
    as ``folder/api-traces-SERVICE.json``, the bytes as Jaeger sent them: the JSON a real Jaeger
    writes, which the importers must read as they read their own."""
    paths = []
    for service in services:
        query = urllib.parse.urlencode(
            {
                "service": service,
                "start": window_us[0],
                "end": window_us[1],
                "limit": 100_000,
            }
        )
        with urllib.request.urlopen(f"{query_url}/api/traces?{query}", timeout=60) as answer:
            path = folder / f"api-traces-{service}.json"
            path.write_bytes(answer.read())
        paths.append(path)
    return paths
