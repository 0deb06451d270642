#!/usr/bin/env python3
"""Start and stop a real RabbitMQ broker on loopback: `python scripts/rabbitmq.py up|down|status`.

The broker is Debian's `rabbitmq-server` package (`apt-get install rabbitmq-server`; RabbitMQ
3.10 on Debian 12), run in the foreground as our own child, never the system service:

* its own node name (`tracekit-AMQPPORT@localhost`), Erlang cookie, config, mnesia and log
  folders, all under one temporary folder that `down` removes;
* AMQP, the management HTTP API (for queue counts and for reading dead-lettered messages),
  Erlang distribution and epmd all on free loopback ports; we start epmd ourselves on its own
  port (the broker would otherwise start a detached epmd that nobody stops) and stop it by pid;
* `up` waits until the management API and AMQP answer, then records both pids in a state file;
  `down` stops exactly those pids (SIGTERM, then SIGKILL of the broker's own process group).

`TRACEKIT_RABBITMQ_SERVER` points at another `rabbitmq-server` start script (default
`/usr/lib/rabbitmq/bin/rabbitmq-server`, the package's script that does not switch user).
The module is importable (tests/plugins/rabbitmq.py uses `start`, `stop`, `queue`), so tests and
developers share one code path.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers  # noqa: E402
from servers import free_ports  # noqa: E402, F401  (part of this module's interface)

SERVER_SCRIPTS = ("/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/lib/rabbitmq/sbin/rabbitmq-server")
PORT_NAMES = ("amqp", "management", "dist", "epmd")
HOW_TO_INSTALL = (
    "install Debian's package (`sudo apt-get install -y rabbitmq-server`; the system service "
    "need not run) or set TRACEKIT_RABBITMQ_SERVER to a rabbitmq-server start script"
)


class RabbitMQError(Exception):
    """The broker could not be started or stopped; the message says why."""


class RabbitMQUnavailable(RabbitMQError):
    """RabbitMQ (or Erlang's epmd) is not installed here."""


@dataclasses.dataclass
class RabbitMQInstance:
    """A running broker started by this script (what the state file holds)."""

    pid: int
    epmd_pid: int
    host: str
    ports: dict[str, int]
    node: str
    folder: str
    log: str
    state_file: str

    @property
    def amqp_url(self) -> str:
        """AMQP URL for clients (guest/guest, which RabbitMQ allows on loopback only)."""
        return f"amqp://guest:guest@{self.host}:{self.ports['amqp']}/%2F"

    @property
    def management_url(self) -> str:
        """Base URL of the management HTTP API (`/api/...`)."""
        return f"http://{self.host}:{self.ports['management']}"


def server_script() -> Path:
    """The rabbitmq-server start script; RabbitMQUnavailable when RabbitMQ is not installed."""
    override = os.environ.get("TRACEKIT_RABBITMQ_SERVER")
    candidates = [override] if override else list(SERVER_SCRIPTS)
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise RabbitMQUnavailable(
        f"rabbitmq-server not found ({', '.join(candidates)}): " + HOW_TO_INSTALL
    )


def epmd_binary() -> str:
    """Erlang's port mapper daemon, installed with the broker's Erlang."""
    found = shutil.which("epmd") or next(
        (str(p) for p in sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))), None
    )
    if found is None:
        raise RabbitMQUnavailable("Erlang's epmd not found: " + HOW_TO_INSTALL)
    return found


def cache_dir() -> Path:
    """Where `up` keeps its state file (outside the repository)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tracekit" / "rabbitmq"


def default_state_file() -> Path:
    return cache_dir() / "run" / "rabbitmq.json"


def _config(host: str, ports: dict[str, int]) -> str:
    return "\n".join(
        [
            f"listeners.tcp.1 = {host}:{ports['amqp']}",
            f"management.tcp.ip = {host}",
            f"management.tcp.port = {ports['management']}",
            # Queue counts in the management API are refreshed this often (default 5 s).
            "collect_statistics_interval = 500",
            "",
        ]
    )


def start(
    ports: dict[str, int] | None = None,
    host: str = "127.0.0.1",
    state_file: Path | None = None,
    timeout: float = 90.0,
) -> RabbitMQInstance:
    """Start epmd and the broker in their own sessions, wait until both answer, record pids.

    Ports default to free ones. Raises RabbitMQUnavailable when RabbitMQ is not installed and
    RabbitMQError when it does not come up within `timeout` seconds (its log tail included).
    """
    script = server_script()
    epmd = epmd_binary()
    if not ports:
        ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    state_file = state_file or default_state_file()
    existing = read_state(state_file)
    if existing is not None and servers.pid_exists(existing.pid):
        raise RabbitMQError(
            f"RabbitMQ already running (pid {existing.pid}, {existing.amqp_url}); stop it first"
        )
    folder = Path(tempfile.mkdtemp(prefix="tracekit-rabbitmq-"))
    (folder / "rabbitmq.conf").write_text(_config(host, ports))
    (folder / "enabled_plugins").write_text("[rabbitmq_management].\n")
    (folder / "rabbitmq-env.conf").write_text("")  # not the system's /etc/rabbitmq one
    node = f"tracekit-{ports['amqp']}@localhost"
    log = folder / "broker.log"
    env = dict(
        os.environ,
        HOME=str(folder),  # the Erlang cookie lives here, so only we can talk to this node
        ERL_EPMD_PORT=str(ports["epmd"]),
        ERL_EPMD_ADDRESS=host,
        RABBITMQ_CONF_ENV_FILE=str(folder / "rabbitmq-env.conf"),
        RABBITMQ_CONFIG_FILE=str(folder / "rabbitmq.conf"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(folder / "enabled_plugins"),
        RABBITMQ_NODENAME=node,
        RABBITMQ_NODE_IP_ADDRESS=host,
        RABBITMQ_NODE_PORT=str(ports["amqp"]),
        RABBITMQ_DIST_PORT=str(ports["dist"]),
        RABBITMQ_MNESIA_BASE=str(folder / "mnesia"),
        RABBITMQ_LOG_BASE=str(folder / "log"),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
    )
    with open(log, "ab") as out:
        epmd_process = subprocess.Popen(
            [epmd, "-port", str(ports["epmd"]), "-address", host],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        # The start script stays in the foreground and stops the Erlang VM it starts when it
        # gets SIGTERM; its own session makes the VM part of a process group we own.
        broker = subprocess.Popen(
            [str(script)],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    instance = RabbitMQInstance(
        pid=broker.pid,
        epmd_pid=epmd_process.pid,
        host=host,
        ports=ports,
        node=node,
        folder=str(folder),
        log=str(log),
        state_file=str(state_file),
    )
    try:
        _wait_ready(instance, broker, timeout)
    except BaseException:
        stop(instance)
        raise
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(dataclasses.asdict(instance), indent=2) + "\n")
    return instance


def _wait_ready(instance: RabbitMQInstance, broker: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if broker.poll() is not None:
            raise RabbitMQError(
                f"rabbitmq-server exited with code {broker.returncode}; log tail:\n"
                f"{_tail(instance.log)}"
            )
        with contextlib.suppress(RabbitMQError):
            if api(instance, "/api/overview").get("node") == instance.node and _listening(
                instance.host, instance.ports["amqp"]
            ):
                return
        time.sleep(0.25)
    raise RabbitMQError(
        f"RabbitMQ not ready after {timeout:.0f}s; log tail:\n{_tail(instance.log)}"
    )


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def api(instance: RabbitMQInstance, path: str, body: Any = None, method: str | None = None) -> Any:
    """Call the management HTTP API (guest/guest); returns the decoded JSON answer or None."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        instance.management_url + path,
        data=data,
        method=method or ("POST" if data is not None else "GET"),
        headers={
            "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode(),
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        detail = error.read()[:200].decode(errors="replace")
        raise RabbitMQError(f"{method or 'GET'} {path}: HTTP {error.code} {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        raise RabbitMQError(f"{path}: {error}") from error
    return json.loads(text) if text else None


def queue(instance: RabbitMQInstance, name: str, vhost: str = "/") -> dict[str, Any]:
    """The management API's record of one queue: `messages`, `messages_ready`,
    `messages_unacknowledged`, `consumers`, `message_stats` (`publish`, `ack`, ...)."""
    path = f"/api/queues/{urllib.parse.quote(vhost, safe='')}/{urllib.parse.quote(name, safe='')}"
    answer = api(instance, path)
    assert isinstance(answer, dict)
    return answer


def read_state(state_file: Path) -> RabbitMQInstance | None:
    """The instance recorded in `state_file`, or None."""
    try:
        return RabbitMQInstance(**json.loads(Path(state_file).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def stop(instance: RabbitMQInstance, timeout: float = 30.0) -> bool:
    """Stop the recorded broker and epmd pids, remove the broker's folder and the state file.

    Returns False when the broker was not running any more. Signals only those pids (and, if
    the broker's start script does not stop its VM in time, that script's own process group).
    """
    was_running = servers.pid_exists(instance.pid)
    if was_running:
        _terminate(instance.pid, timeout, group=True)
    if servers.pid_exists(instance.epmd_pid):
        _terminate(instance.epmd_pid, 5.0, group=False)
    folder = Path(instance.folder)
    if folder.name.startswith("tracekit-rabbitmq-"):
        shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        Path(instance.state_file).unlink()
    return was_running


def _terminate(pid: int, timeout: float, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not servers.pid_exists(pid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if group:
        # The start script is the leader of its own session; whatever it left (the Erlang VM
        # and its port programs) is in that group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _tail(path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> int:
    """Command line: up | down | status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    for name in PORT_NAMES:
        parser.add_argument(f"--{name}-port", dest=name, type=int, default=None)
    parser.add_argument("--state", type=Path, default=None, help="state file (pids, ports)")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for it")
    args = parser.parse_args(argv)
    state_file = args.state or default_state_file()
    try:
        if args.action == "up":
            chosen = {name: getattr(args, name) for name in PORT_NAMES}
            free = iter(free_ports(len(PORT_NAMES)))
            ports = {name: port or next(free) for name, port in chosen.items()}
            instance = start(ports, state_file=state_file, timeout=args.timeout)
            print(
                f"RabbitMQ up (pid {instance.pid}, node {instance.node}): {instance.amqp_url}, "
                f"management {instance.management_url}; log {instance.log}"
            )
        elif args.action == "down":
            found = read_state(state_file)
            if found is None:
                print(f"no RabbitMQ recorded in {state_file}; nothing to stop")
            elif stop(found):
                print(f"RabbitMQ stopped (pid {found.pid})")
            else:
                print(f"RabbitMQ pid {found.pid} was not running; state file removed")
        else:
            found = read_state(state_file)
            if found is None or not servers.pid_exists(found.pid):
                print("not running")
                return 1
            try:
                overview = api(found, "/api/overview")
                answer = f"answering ({overview.get('rabbitmq_version')})"
            except RabbitMQError as error:
                answer = f"NOT answering ({error})"
            print(f"running (pid {found.pid}), {answer}, {found.amqp_url}")
    except RabbitMQError as error:
        print(f"rabbitmq: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
