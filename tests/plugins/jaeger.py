"""The real Jaeger v2 for tests: one instance per session on free, non-default ports.

It goes through scripts/jaeger.py (the code behind `make jaeger-up`), so tests exercise the same
install/start/stop path as developers. Without the binary and without Go the tests that use it
skip with a message saying how to enable them; with CI=true they fail instead.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_jaeger_script() -> ModuleType:
    """Import scripts/jaeger.py (not a package) as the module `tracekit_jaeger_script`."""
    name = "tracekit_jaeger_script"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "jaeger.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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
    yield from _running(tmp_path_factory.mktemp("jaeger"))


@pytest.fixture(scope="session")
def jaeger_badger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Like `jaeger`, with Jaeger's persistent Badger store (deploy/jaeger-badger.yaml) in a
    folder under the session's temporary directory: spans go through Jaeger's own model."""
    folder = tmp_path_factory.mktemp("jaeger-badger")
    yield from _running(folder, storage="badger", data_dir=folder / "data")


def _running(folder: Path, **options: Any) -> Iterator[Any]:
    script = load_jaeger_script()
    try:
        script.ensure_binary()
    except script.JaegerUnavailable as error:
        _unavailable(str(error))
    except script.JaegerError as error:
        _unavailable(f"build failed: {error}")
    names = list(script.DEFAULT_PORTS)
    instance = None
    for _attempt in range(3):  # a free port can be taken between choosing and binding it
        ports = dict(zip(names, script.free_ports(len(names)), strict=True))
        try:
            instance = script.start(
                ports, state_file=folder / "state.json", log_file=folder / "jaeger.log", **options
            )
            break
        except script.JaegerError as error:
            last_error = error
    if instance is None:
        pytest.fail(f"could not start Jaeger: {last_error}", pytrace=False)
    try:
        yield instance
    finally:
        script.stop(instance)
