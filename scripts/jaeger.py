#!/usr/bin/env python3
"""Install, start and stop a real Jaeger v2 on loopback: `python scripts/jaeger.py up|down|status`.

Jaeger v2.13.0 is the Go module github.com/jaegertracing/jaeger at v1.76.0. Its go.mod has
replace directives, so `go install ...@v1.76.0` refuses it; building it as a `tool` of a throwaway
module works. The binary goes to a cache folder outside the repository and is reused:
``${XDG_CACHE_HOME:-~/.cache}/tracekit/jaeger-v1.76.0/jaeger`` (or ``$TRACEKIT_JAEGER_BIN``).

`up` runs it with ``deploy/jaeger.yaml`` (in-memory store), waits until it is healthy and writes
a state file with its pid and ports; `down` stops exactly that pid. `up --storage badger` adds
``deploy/jaeger-badger.yaml``: Jaeger's built-in persistent Badger store, in ``--data-dir`` (kept)
or a new folder under the temporary directory (removed by `down`). Ports come from flags, else
from the environment, else the Jaeger defaults:

    TRACEKIT_JAEGER_QUERY_PORT (16686)      TRACEKIT_JAEGER_OTLP_GRPC_PORT (4317)
    TRACEKIT_JAEGER_OTLP_HTTP_PORT (4318)   TRACEKIT_JAEGER_HEALTH_PORT (13133)
    TRACEKIT_JAEGER_QUERY_GRPC_PORT (16685) TRACEKIT_JAEGER_HOST (127.0.0.1)

The module is importable (the pytest plugin tests/plugins/jaeger.py uses `ensure_binary`,
`start` and `stop`), so tests and `make jaeger-up` share one code path.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The sibling modules, also when this file is imported by path (tests, benchmarks).
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import gotool  # noqa: E402
import servers  # noqa: E402
from gotool import find_go  # noqa: E402, F401  (tests replace jaeger.find_go)
from servers import free_ports  # noqa: E402, F401  (part of this module's interface)

JAEGER_MODULE = "github.com/jaegertracing/jaeger"
JAEGER_MODULE_VERSION = "v1.76.0"  # Jaeger v2.13.0
JAEGER_TOOL = gotool.GoTool(JAEGER_MODULE, JAEGER_MODULE_VERSION, "cmd/jaeger", "jaeger")
REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "deploy" / "jaeger.yaml"
# Given after CONFIG for --storage badger: the collector merges its --config files in order.
BADGER_CONFIG = REPO / "deploy" / "jaeger-badger.yaml"
STORAGES = ("memory", "badger")
DEFAULT_PORTS = {
    "query": 16686,
    "query_grpc": 16685,
    "otlp_grpc": 4317,
    "otlp_http": 4318,
    "health": 13133,
}
PORT_ENV = {
    "query": "TRACEKIT_JAEGER_QUERY_PORT",
    "query_grpc": "TRACEKIT_JAEGER_QUERY_GRPC_PORT",
    "otlp_grpc": "TRACEKIT_JAEGER_OTLP_GRPC_PORT",
    "otlp_http": "TRACEKIT_JAEGER_OTLP_HTTP_PORT",
    "health": "TRACEKIT_JAEGER_HEALTH_PORT",
}


class JaegerError(Exception):
    """Jaeger could not be installed, started or stopped; the message says why and what to do."""


class JaegerUnavailable(JaegerError):
    """The binary is missing and cannot be built here (no Go toolchain)."""


@dataclasses.dataclass
class JaegerInstance:
    """A running Jaeger started by this script (what the state file holds)."""

    pid: int
    host: str
    ports: dict[str, int]
    binary: str
    log: str
    state_file: str
    storage: str = "memory"
    data_dir: str | None = None  # badger: where the spans are
    data_dir_owned: bool = False  # made by start() under the temporary directory: stop removes it

    @property
    def query_url(self) -> str:
        """Base URL of the query service (UI, /api/traces, /api/v3)."""
        return f"http://{self.host}:{self.ports['query']}"

    @property
    def otlp_http_url(self) -> str:
        """Base URL of the OTLP/HTTP receiver (POST {url}/v1/traces)."""
        return f"http://{self.host}:{self.ports['otlp_http']}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        """host:port of the OTLP/gRPC receiver."""
        return f"{self.host}:{self.ports['otlp_grpc']}"


def cache_dir() -> Path:
    """The folder holding the built Jaeger, outside the repository and reused across runs."""
    return JAEGER_TOOL.cache_dir()


def binary_path() -> Path:
    """Where the Jaeger binary is (or will be): $TRACEKIT_JAEGER_BIN or the cache folder."""
    override = os.environ.get("TRACEKIT_JAEGER_BIN")
    return Path(override).expanduser() if override else JAEGER_TOOL.cached_binary()


def ensure_binary(log: bool = True) -> Path:
    """Return the Jaeger binary, building it with Go into the cache folder when missing.

    Raises JaegerUnavailable when it is missing and Go is not installed, JaegerError when the
    build fails. A lock file keeps two concurrent callers from building twice.
    """
    binary = binary_path()
    if gotool.is_executable(binary):
        return binary
    if os.environ.get("TRACEKIT_JAEGER_BIN"):
        raise JaegerUnavailable(f"TRACEKIT_JAEGER_BIN={binary} is not an executable file")
    go = find_go()
    if go is None:
        raise JaegerUnavailable(
            "Jaeger v2 binary not found at "
            f"{binary} and Go is not installed: install Go (https://go.dev/dl/) and run "
            "`make jaeger-up`, or set TRACEKIT_JAEGER_BIN to a Jaeger v2.13 binary"
        )
    try:
        return gotool.build_once(go, JAEGER_TOOL, binary, log=log)
    except gotool.GoBuildError as error:
        raise JaegerError(str(error)) from error


def resolve_ports(overrides: dict[str, int | None] | None = None) -> dict[str, int]:
    """Ports from explicit overrides, else TRACEKIT_JAEGER_*_PORT variables, else defaults."""
    ports = {}
    for name, default in DEFAULT_PORTS.items():
        value = (overrides or {}).get(name)
        if value is None:
            value = int(os.environ.get(PORT_ENV[name], default))
        ports[name] = int(value)
    return ports


def default_state_file(query_port: int) -> Path:
    """Where `up` records the pid for a Jaeger whose query port is `query_port`."""
    return cache_dir() / "run" / f"jaeger-{query_port}.json"


def start(
    ports: dict[str, int] | None = None,
    host: str | None = None,
    state_file: Path | None = None,
    log_file: Path | None = None,
    config: Path = CONFIG,
    timeout: float = 60.0,
    max_traces: int | None = None,
    storage: str = "memory",
    data_dir: Path | None = None,
) -> JaegerInstance:
    """Start Jaeger in its own session, wait until healthy, write the state file, return it.

    `storage` "badger" keeps the spans on disk in `data_dir` (default: a new folder under the
    temporary directory, removed again by `stop`).

    Raises JaegerError if it exits or is not healthy within `timeout` seconds (its log tail is
    in the message); JaegerUnavailable if the binary is missing and Go is not installed.
    """
    binary = ensure_binary()
    ports = ports or resolve_ports()
    host = host or os.environ.get("TRACEKIT_JAEGER_HOST", "127.0.0.1")
    state_file = state_file or default_state_file(ports["query"])
    existing = read_state(state_file)
    if existing is not None and _alive(existing):
        raise JaegerError(
            f"Jaeger already running (pid {existing.pid}, {existing.query_url}); "
            "`make jaeger-down` first"
        )
    busy = [f"{name}={port}" for name, port in ports.items() if servers.port_in_use(host, port)]
    if busy:
        raise JaegerError(f"ports already in use on {host}: {', '.join(busy)}")
    state_file.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_file or state_file.with_suffix(".log")
    env = dict(os.environ, TRACEKIT_JAEGER_HOST=host)
    for name, port in ports.items():
        env[PORT_ENV[name]] = str(port)
    if max_traces is not None:
        env["TRACEKIT_JAEGER_MAX_TRACES"] = str(max_traces)
    if storage not in STORAGES:
        raise JaegerError(f"unknown storage {storage!r}; one of {', '.join(STORAGES)}")
    command = [str(binary), "--config", f"file:{config}"]
    owned = False
    if storage == "badger":
        if data_dir is None:
            data_dir, owned = Path(tempfile.mkdtemp(prefix="tracekit-jaeger-badger-")), True
        data_dir.mkdir(parents=True, exist_ok=True)
        env["TRACEKIT_JAEGER_BADGER_DIR"] = str(data_dir.resolve())
        command += ["--config", f"file:{BADGER_CONFIG}"]
    with open(log_file, "ab") as log:
        # A new session: `make jaeger-up` returns while Jaeger keeps running, and a Ctrl-C in
        # the terminal that started it does not take it down.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    instance = JaegerInstance(
        pid=process.pid,
        host=host,
        ports=ports,
        binary=str(binary),
        log=str(log_file),
        state_file=str(state_file),
        storage=storage,
        data_dir=None if data_dir is None else str(data_dir.resolve()),
        data_dir_owned=owned,
    )
    try:
        _wait_healthy(instance, process, timeout)
    except BaseException:
        servers.terminate(process.pid)
        process.wait(timeout=10)
        _remove_owned_data(instance)
        raise
    state_file.write_text(json.dumps(dataclasses.asdict(instance), indent=2) + "\n")
    return instance


def _wait_healthy(instance: JaegerInstance, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    checks = (
        f"http://{instance.host}:{instance.ports['health']}/status",
        f"{instance.query_url}/api/services",
    )
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise JaegerError(
                f"Jaeger exited with code {process.returncode}; "
                f"log tail:\n{servers.tail(instance.log)}"
            )
        if all(servers.answers(url) for url in checks):
            return
        time.sleep(0.2)
    raise JaegerError(
        f"Jaeger not healthy after {timeout:.0f}s; log tail:\n{servers.tail(instance.log)}"
    )


def read_state(state_file: Path) -> JaegerInstance | None:
    """The instance recorded in `state_file`, or None when there is none."""
    try:
        return JaegerInstance(**json.loads(Path(state_file).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _alive(instance: JaegerInstance) -> bool:
    """True when the recorded pid still runs the recorded binary (pids get reused)."""
    return servers.alive(instance.pid, instance.binary)


def stop(instance: JaegerInstance, timeout: float = 15.0) -> bool:
    """Stop the recorded pid (SIGTERM, then SIGKILL) and remove the state file.

    Returns False when it was not running any more. Never signals anything but that pid.
    """
    was_running = _alive(instance)
    if was_running:
        servers.terminate(instance.pid, timeout)
    _remove_owned_data(instance)
    with contextlib.suppress(FileNotFoundError):
        Path(instance.state_file).unlink()
    return was_running


def _remove_owned_data(instance: JaegerInstance) -> None:
    """Remove the Badger folder start() made (never one the user gave with --data-dir)."""
    if instance.data_dir_owned and instance.data_dir:
        folder = Path(instance.data_dir)
        if folder.name.startswith("tracekit-jaeger-badger-"):
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: up | down | status | install."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "down", "status", "install"])
    parser.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    for name in DEFAULT_PORTS:
        flag = "--" + name.replace("_", "-") + "-port"
        parser.add_argument(flag, dest=name, type=int, default=None, help=f"${PORT_ENV[name]}")
    parser.add_argument("--state", type=Path, default=None, help="state file (pid, ports)")
    parser.add_argument(
        "--storage",
        choices=STORAGES,
        default="memory",
        help="memory (default) or badger: Jaeger's persistent store on disk",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="badger: keep the spans here (default: a new temporary folder, removed by down)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for health")
    args = parser.parse_args(argv)
    ports = resolve_ports({name: getattr(args, name) for name in DEFAULT_PORTS})
    state_file = args.state or default_state_file(ports["query"])
    try:
        if args.action == "install":
            print(ensure_binary())
        elif args.action == "up":
            instance = start(
                ports,
                host=args.host,
                state_file=state_file,
                timeout=args.timeout,
                storage=args.storage,
                data_dir=args.data_dir,
            )
            where = f", Badger store in {instance.data_dir}" if instance.data_dir else ""
            print(
                f"Jaeger up (pid {instance.pid}): UI and query API {instance.query_url}, "
                f"OTLP gRPC {instance.otlp_grpc_endpoint}, OTLP HTTP {instance.otlp_http_url}; "
                f"log {instance.log}{where}"
            )
        elif args.action == "down":
            found = read_state(state_file)
            if found is None:
                print(f"no Jaeger recorded in {state_file}; nothing to stop")
            elif stop(found):
                print(f"Jaeger stopped (pid {found.pid})")
            else:
                print(f"Jaeger pid {found.pid} was not running; state file removed")
        else:
            found = read_state(state_file)
            if found is not None and _alive(found):
                healthy = servers.answers(f"http://{found.host}:{found.ports['health']}/status")
                print(
                    f"running (pid {found.pid}), {'healthy' if healthy else 'NOT healthy'}, "
                    f"{found.query_url}"
                )
            else:
                print("not running")
                return 1
    except JaegerError as error:
        print(f"jaeger: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
