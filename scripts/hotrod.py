#!/usr/bin/env python3
"""Install, start and stop Jaeger's HotROD demo on loopback: `scripts/hotrod.py up|down|status`.

HotROD ("Rides on Demand") is the package `examples/hotrod` of the Go module
github.com/jaegertracing/jaeger, the module our Jaeger is built from (v1.76.0 = Jaeger v2.13.0).
It is built the same way, as a `tool` of a throwaway module (scripts/gotool.py), into the same
cache folder: ``${XDG_CACHE_HOME:-~/.cache}/tracekit/jaeger-v1.76.0/hotrod`` (or
``$TRACEKIT_HOTROD_BIN``).

`up` runs ``hotrod all`` (frontend, customer, driver and route services in one process, each
with its own tracer: services frontend, customer, mysql, driver, redis-manual, route) listening
on loopback only, exporting OTLP/HTTP to a Jaeger (``--otlp-endpoint``, default the one
`make jaeger-up` starts), waits until all four services accept connections and writes a state
file with its pid, ports and flags; `down` stops exactly that pid. HotROD's fix flags pass
through: ``-M`` (no mutex around the customer DB: the "misconfigured connection pool" fixed),
``-D 100ms`` (mean MySQL query time, default 300ms), ``-W 10`` (route worker pool, default 3).
Ports come from flags, else the environment, else HotROD's defaults:

    TRACEKIT_HOTROD_FRONTEND_PORT (8080)  TRACEKIT_HOTROD_CUSTOMER_PORT (8081)
    TRACEKIT_HOTROD_DRIVER_PORT (8082)    TRACEKIT_HOTROD_ROUTE_PORT (8083)

The health check only opens TCP connections: every HTTP endpoint of HotROD is traced, and a
probe would add traces to the capture. The module is importable (tests/plugins/hotrod.py uses
`ensure_binary`, `start` and `stop`), so tests and `make hotrod-up` share one code path.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import gotool  # noqa: E402
import servers  # noqa: E402
from gotool import find_go  # noqa: E402, F401  (tests replace hotrod.find_go)
from jaeger import JAEGER_MODULE, JAEGER_MODULE_VERSION  # noqa: E402
from servers import free_ports  # noqa: E402, F401  (part of this module's interface)

HOTROD_TOOL = gotool.GoTool(JAEGER_MODULE, JAEGER_MODULE_VERSION, "examples/hotrod", "jaeger")
SERVICES = ("frontend", "customer", "driver", "route")
DEFAULT_PORTS = {"frontend": 8080, "customer": 8081, "driver": 8082, "route": 8083}
PORT_ENV = {name: f"TRACEKIT_HOTROD_{name.upper()}_PORT" for name in SERVICES}
# HotROD's own flag for each service's port and host name (examples/hotrod/cmd/flags.go).
PORT_FLAGS = {name: f"--{name}-service-port" for name in SERVICES}
HOST_FLAGS = {
    "frontend": "--frontend-service-hostname",
    "customer": "--customer-service-hostname",
    "driver": "--driver-service-hostname",
    "route": "--route-service-hostname",
}
DEFAULT_OTLP = "http://127.0.0.1:4318"


class HotrodError(Exception):
    """HotROD could not be installed, started or stopped; the message says why and what to do."""


class HotrodUnavailable(HotrodError):
    """The binary is missing and cannot be built here (no Go toolchain)."""


@dataclasses.dataclass
class HotrodInstance:
    """A running `hotrod all` started by this script (what the state file holds)."""

    pid: int
    host: str
    ports: dict[str, int]
    fix_flags: list[str]
    otlp_endpoint: str
    binary: str
    log: str
    state_file: str

    @property
    def frontend_url(self) -> str:
        """Base URL of the frontend (UI, /dispatch?customer=ID)."""
        return f"http://{self.host}:{self.ports['frontend']}"


def binary_path() -> Path:
    """Where the HotROD binary is (or will be): $TRACEKIT_HOTROD_BIN or the cache folder."""
    override = os.environ.get("TRACEKIT_HOTROD_BIN")
    return Path(override).expanduser() if override else HOTROD_TOOL.cached_binary()


def ensure_binary(log: bool = True) -> Path:
    """Return the HotROD binary, building it with Go into the cache folder when missing.

    Raises HotrodUnavailable when it is missing and Go is not installed, HotrodError when the
    build fails.
    """
    binary = binary_path()
    if gotool.is_executable(binary):
        return binary
    if os.environ.get("TRACEKIT_HOTROD_BIN"):
        raise HotrodUnavailable(f"TRACEKIT_HOTROD_BIN={binary} is not an executable file")
    go = find_go()
    if go is None:
        raise HotrodUnavailable(
            f"HotROD binary not found at {binary} and Go is not installed: install Go "
            "(https://go.dev/dl/) and run `python scripts/hotrod.py install`, or set "
            "TRACEKIT_HOTROD_BIN to a HotROD binary of Jaeger v2.13"
        )
    try:
        return gotool.build_once(go, HOTROD_TOOL, binary, log=log)
    except gotool.GoBuildError as error:
        raise HotrodError(str(error)) from error


def resolve_ports(overrides: dict[str, int | None] | None = None) -> dict[str, int]:
    """Ports from explicit overrides, else TRACEKIT_HOTROD_*_PORT variables, else defaults."""
    ports = {}
    for name, default in DEFAULT_PORTS.items():
        value = (overrides or {}).get(name)
        if value is None:
            value = int(os.environ.get(PORT_ENV[name], default))
        ports[name] = int(value)
    return ports


def default_state_file(frontend_port: int) -> Path:
    """Where `up` records the pid of a HotROD whose frontend listens on `frontend_port`."""
    return HOTROD_TOOL.cache_dir() / "run" / f"hotrod-{frontend_port}.json"


def start(
    otlp_endpoint: str,
    fix_flags: list[str] | None = None,
    ports: dict[str, int] | None = None,
    host: str = "127.0.0.1",
    state_file: Path | None = None,
    log_file: Path | None = None,
    timeout: float = 30.0,
) -> HotrodInstance:
    """Start `hotrod all` in its own session, wait until its four services accept connections,
    write the state file and return the instance.

    ``otlp_endpoint`` is a Jaeger's OTLP/HTTP base URL (http://127.0.0.1:4318); ``fix_flags``
    go to HotROD as given (["-M"], ["-D", "100ms", "-W", "10"]). Raises HotrodError when it
    exits or does not listen within ``timeout`` seconds (its log tail is in the message).
    """
    binary = ensure_binary()
    ports = ports or resolve_ports()
    fix_flags = list(fix_flags or [])
    state_file = state_file or default_state_file(ports["frontend"])
    existing = read_state(state_file)
    if existing is not None and servers.alive(existing.pid, existing.binary):
        raise HotrodError(
            f"HotROD already running (pid {existing.pid}, {existing.frontend_url}); "
            "`python scripts/hotrod.py down` first"
        )
    busy = [f"{name}={port}" for name, port in ports.items() if servers.port_in_use(host, port)]
    if busy:
        raise HotrodError(f"ports already in use on {host}: {', '.join(busy)}")
    state_file.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_file or state_file.with_suffix(".log")
    command = [str(binary), "all", "--otel-exporter", "otlp", *fix_flags]
    for name in SERVICES:
        command += [PORT_FLAGS[name], str(ports[name]), HOST_FLAGS[name], host]
    # Only what we set: an inherited OTEL_*/JAEGER_* variable (a traces endpoint, a sampler)
    # would silently change what the capture holds.
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "JAEGER_"))
    }
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_endpoint
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    instance = HotrodInstance(
        pid=process.pid,
        host=host,
        ports=ports,
        fix_flags=fix_flags,
        otlp_endpoint=otlp_endpoint,
        binary=str(binary),
        log=str(log_file),
        state_file=str(state_file),
    )
    try:
        _wait_listening(instance, process, timeout)
    except BaseException:
        servers.terminate(process.pid)
        process.wait(timeout=10)
        raise
    state_file.write_text(json.dumps(dataclasses.asdict(instance), indent=2) + "\n")
    return instance


def _wait_listening(instance: HotrodInstance, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HotrodError(
                f"HotROD exited with code {process.returncode}; "
                f"log tail:\n{servers.tail(instance.log)}"
            )
        if all(servers.port_in_use(instance.host, port) for port in instance.ports.values()):
            return
        time.sleep(0.1)
    raise HotrodError(
        f"HotROD not listening after {timeout:.0f}s; log tail:\n{servers.tail(instance.log)}"
    )


def read_state(state_file: Path) -> HotrodInstance | None:
    """The instance recorded in `state_file`, or None when there is none."""
    try:
        return HotrodInstance(**json.loads(Path(state_file).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def stop(instance: HotrodInstance, timeout: float = 15.0) -> bool:
    """Stop the recorded pid (SIGTERM, then SIGKILL) and remove the state file.

    Returns False when it was not running any more. Never signals anything but that pid.
    HotROD does not flush its span exporters on SIGTERM: wait until Jaeger holds the spans.
    """
    was_running = servers.alive(instance.pid, instance.binary)
    if was_running:
        servers.terminate(instance.pid, timeout)
    with contextlib.suppress(FileNotFoundError):
        Path(instance.state_file).unlink()
    return was_running


def main(argv: list[str] | None = None) -> int:
    """Command line: up | down | status | install."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("action", choices=["up", "down", "status", "install"])
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    for name in SERVICES:
        parser.add_argument(
            f"--{name}-port", dest=name, type=int, default=None, help=f"${PORT_ENV[name]}"
        )
    parser.add_argument(
        "--otlp-endpoint",
        default=None,
        help="Jaeger's OTLP/HTTP base URL (default: TRACEKIT_JAEGER_OTLP_HTTP_PORT on "
        f"127.0.0.1, else {DEFAULT_OTLP})",
    )
    parser.add_argument(
        "-M",
        "--fix-disable-db-conn-mutex",
        action="store_true",
        help="HotROD fix: no mutex around the customer DB connection",
    )
    parser.add_argument(
        "-D", "--fix-db-query-delay", default=None, help="HotROD: mean MySQL query time (300ms)"
    )
    parser.add_argument(
        "-W", "--fix-route-worker-pool-size", type=int, default=None, help="HotROD: route pool (3)"
    )
    parser.add_argument("--state", type=Path, default=None, help="state file (pid, ports)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for it")
    args = parser.parse_args(argv)
    ports = resolve_ports({name: getattr(args, name) for name in SERVICES})
    state_file = args.state or default_state_file(ports["frontend"])
    fix_flags = fix_flag_list(
        disable_mutex=args.fix_disable_db_conn_mutex,
        db_delay=args.fix_db_query_delay,
        route_workers=args.fix_route_worker_pool_size,
    )
    otlp = args.otlp_endpoint or (
        f"http://127.0.0.1:{os.environ['TRACEKIT_JAEGER_OTLP_HTTP_PORT']}"
        if os.environ.get("TRACEKIT_JAEGER_OTLP_HTTP_PORT")
        else DEFAULT_OTLP
    )
    try:
        if args.action == "install":
            print(ensure_binary())
        elif args.action == "up":
            instance = start(
                otlp,
                fix_flags,
                ports,
                host=args.host,
                state_file=state_file,
                timeout=args.timeout,
            )
            flags = " ".join(instance.fix_flags) or "none"
            print(
                f"HotROD up (pid {instance.pid}): {instance.frontend_url}, fix flags {flags}, "
                f"spans to {instance.otlp_endpoint}; log {instance.log}"
            )
        elif args.action == "down":
            found = read_state(state_file)
            if found is None:
                print(f"no HotROD recorded in {state_file}; nothing to stop")
            elif stop(found):
                print(f"HotROD stopped (pid {found.pid})")
            else:
                print(f"HotROD pid {found.pid} was not running; state file removed")
        else:
            found = read_state(state_file)
            if found is not None and servers.alive(found.pid, found.binary):
                listening = all(servers.port_in_use(found.host, p) for p in found.ports.values())
                print(
                    f"running (pid {found.pid}), {'listening' if listening else 'NOT listening'}"
                    f", {found.frontend_url}, fix flags {' '.join(found.fix_flags) or 'none'}"
                )
            else:
                print("not running")
                return 1
    except HotrodError as error:
        print(f"hotrod: {error}", file=sys.stderr)
        return 2
    return 0


def fix_flag_list(
    disable_mutex: bool = False, db_delay: str | None = None, route_workers: int | None = None
) -> list[str]:
    """HotROD's fix flags as command-line words: -M, -D DELAY, -W WORKERS (only those given)."""
    flags = ["-M"] if disable_mutex else []
    if db_delay is not None:
        flags += ["-D", db_delay]
    if route_workers is not None:
        flags += ["-W", str(route_workers)]
    return flags


if __name__ == "__main__":
    sys.exit(main())
