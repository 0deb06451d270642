"""Build a Go program from the module proxy into tracekit's cache (shared by jaeger.py, hotrod.py).

Jaeger's module github.com/jaegertracing/jaeger has replace directives in its go.mod, so
`go install MODULE/PACKAGE@VERSION` refuses it; building the package as a `tool` of a throwaway
module works. Every program of one module version goes to one cache folder outside the
repository, ``${XDG_CACHE_HOME:-~/.cache}/tracekit/<name>-<version>/``, and is reused; a lock
file keeps two callers (two test sessions, `make jaeger-up` beside a test run) from building it
twice, and the binary is moved into place in one step so nobody runs a half-copied file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


class GoBuildError(Exception):
    """`go get` / `go install` failed; the message has the command and the tail of its output."""


@dataclasses.dataclass(frozen=True)
class GoTool:
    """A main package of a Go module at one version, e.g. Jaeger's `cmd/jaeger` at v1.76.0."""

    module: str  # github.com/jaegertracing/jaeger
    version: str  # v1.76.0
    package: str  # cmd/jaeger, examples/hotrod
    cache_name: str  # the cache folder's prefix: jaeger -> ~/.cache/tracekit/jaeger-v1.76.0

    @property
    def binary_name(self) -> str:
        """What `go install` names the binary: the package path's last element."""
        return self.package.rsplit("/", 1)[-1]

    def cache_dir(self) -> Path:
        """The folder holding this module version's binaries, outside the repository."""
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "tracekit" / f"{self.cache_name}-{self.version}"

    def cached_binary(self) -> Path:
        """Where the built binary is (or will be) in the cache folder."""
        return self.cache_dir() / self.binary_name


def find_go() -> str | None:
    """The `go` command, also when /usr/local/go/bin is not on PATH."""
    found = shutil.which("go")
    if found:
        return found
    for candidate in ("/usr/local/go/bin/go", str(Path.home() / "go" / "bin" / "go")):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def is_executable(path: Path) -> bool:
    """True for an existing executable file."""
    return path.is_file() and os.access(path, os.X_OK)


def build_once(go: str, tool: GoTool, binary: Path, log: bool = True) -> Path:
    """Build `tool` with `go` into `binary` unless it is there already; return `binary`.

    Raises GoBuildError when a build step fails.
    """
    if is_executable(binary):
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    with locked(binary.parent / f".build-{tool.binary_name}.lock"):
        if is_executable(binary):  # built by someone else while we waited for the lock
            return binary
        _build(go, tool, binary, log=log)
    return binary


def _build(go: str, tool: GoTool, binary: Path, log: bool) -> None:
    if log:
        print(
            f"building {tool.module}/{tool.package}@{tool.version} with {go} into "
            f"{binary.parent} (one time, up to several minutes)",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix=f"tracekit-{tool.binary_name}-build-") as work:
        gobin = Path(work) / "bin"
        env = dict(os.environ, GOFLAGS="-mod=mod", GOBIN=str(gobin))
        steps = [
            [go, "mod", "init", f"tracekit.local/{tool.binary_name}build"],
            [go, "get", "-tool", f"{tool.module}/{tool.package}@{tool.version}"],
            [go, "install", "tool"],
        ]
        for step in steps:
            result = subprocess.run(
                step,
                cwd=work,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            if result.returncode != 0:
                tail = "\n".join(result.stdout.strip().splitlines()[-15:])
                raise GoBuildError(f"`{' '.join(step[1:])}` failed ({result.returncode}):\n{tail}")
        built = gobin / tool.binary_name
        if not built.exists():
            raise GoBuildError(f"go install finished but {built} is missing")
        staging = binary.with_name(f".{binary.name}.{os.getpid()}.tmp")
        shutil.copy2(built, staging)
        os.replace(staging, binary)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if missing) for the block."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
