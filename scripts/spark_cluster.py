#!/usr/bin/env python3
"""A Spark standalone cluster on loopback: one master and N workers, for tests and benchmarks.

    .venv/bin/python scripts/spark_cluster.py up [--workers 2] [--cores 1] [--memory 1536m]
    .venv/bin/python scripts/spark_cluster.py status
    .venv/bin/python scripts/spark_cluster.py down

The daemons come from the PySpark package (``tracekit[spark]``: its ``bin/spark-class`` and
jars), run on Java 17 or 21 (``JAVA_HOME``, else ``java`` on PATH), listen on free ports of
127.0.0.1 and keep their logs, work and scratch folders in one folder (``--folder``, default a
fresh temporary one). Each worker starts its executors as separate JVMs, which start Python
workers with this interpreter. ``up`` waits until every worker has registered with the master
and records the pids in the folder's ``cluster.json`` (and ``--state``); ``down`` stops exactly
those processes, each with its process group (the executors and Python workers it started).
"""

from __future__ import annotations

import argparse
import contextlib
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
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers  # noqa: E402

DEFAULT_STATE = Path(tempfile.gettempdir()) / "tracekit-spark-cluster.json"


class ClusterError(Exception):
    """The cluster could not be started (or is not installable here)."""


@dataclass
class SparkCluster:
    """A running cluster: its master URL (for ``--master``), web UI, daemons' pids, folder."""

    master_url: str
    web_url: str
    pids: list[int]
    folder: str
    workers: int
    cores: int
    memory: str

    def driver_conf(self) -> dict[str, str]:
        """Settings for a driver on this machine: loopback, executors that fit the workers."""
        return {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.executor.cores": str(self.cores),
            "spark.executor.memory": executor_memory(self.memory),
            "spark.cores.max": str(self.workers * self.cores),
            "spark.ui.enabled": "false",
        }


def executor_memory(worker_memory: str) -> str:
    """An executor's heap: what the worker offers less ~25% for the JVM's own use."""
    megabytes = int(worker_memory.lower().removesuffix("m").removesuffix("g"))
    if worker_memory.lower().endswith("g"):
        megabytes *= 1024
    return f"{max(512, megabytes * 3 // 4)}m"


def spark_home() -> Path:
    """The PySpark package folder, which holds Spark's launch scripts and jars."""
    try:
        import pyspark
    except ImportError as error:
        raise ClusterError("PySpark is not installed: pip install 'tracekit[spark]'") from error
    return Path(pyspark.__file__).parent


def java_home() -> str | None:
    """JAVA_HOME if set, else the JDK of the ``java`` on PATH (None without one)."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    return str(Path(java).resolve().parent.parent) if java else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    folder: Path | None = None,
    *,
    workers: int = 2,
    cores: int = 1,
    memory: str = "1536m",
    timeout: float = 240.0,
) -> SparkCluster:
    """Start a master and ``workers`` workers; wait until all have registered."""
    home = spark_home()
    java = java_home()
    if java is None:
        raise ClusterError("no Java: install a JDK 17 or 21 and set JAVA_HOME")
    root = Path(folder or tempfile.mkdtemp(prefix="tracekit-spark-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "JAVA_HOME": java,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(root / "logs"),
        "SPARK_LOCAL_DIRS": str(root / "local"),
        "SPARK_NO_DAEMONIZE": "1",
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
    }
    spark_class = str(home / "bin" / "spark-class")
    master_port, web_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []

    def launch(name: str, args: list[str]) -> None:
        with open(root / "logs" / f"{name}.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    [spark_class, *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its executors and Python workers go with it
                )
            )

    try:
        launch(
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(master_port),
                "--webui-port",
                str(web_port),
            ],
        )
        master_url = f"spark://127.0.0.1:{master_port}"
        for index in range(workers):
            launch(
                f"worker-{index}",
                [
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(free_port()),
                    "--webui-port",
                    str(free_port()),
                    "--cores",
                    str(cores),
                    "--memory",
                    memory,
                    "--work-dir",
                    str(root / f"work-{index}"),
                    master_url,
                ],
            )
        cluster = SparkCluster(
            master_url=master_url,
            web_url=f"http://127.0.0.1:{web_port}",
            pids=[process.pid for process in processes],
            folder=str(root),
            workers=workers,
            cores=cores,
            memory=memory,
        )
        _wait_for_workers(cluster, processes, timeout)
    except BaseException:
        _stop_pids([process.pid for process in processes])
        raise
    (root / "cluster.json").write_text(json.dumps(asdict(cluster), indent=1))
    return cluster


def _wait_for_workers(
    cluster: SparkCluster, processes: list[subprocess.Popen[bytes]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise ClusterError(
                    f"a Spark daemon exited with {process.returncode}; logs in "
                    f"{cluster.folder}/logs"
                )
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            with urllib.request.urlopen(f"{cluster.web_url}/json/", timeout=5) as answer:
                state = json.load(answer)
            alive = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
            if len(alive) >= cluster.workers:
                return
        time.sleep(0.5)
    raise ClusterError(f"workers did not register within {timeout:.0f} s ({cluster.folder}/logs)")


def stop(cluster: SparkCluster, timeout: float = 30.0) -> None:
    """Stop the cluster's daemons (workers first), each with its process group."""
    _stop_pids(list(reversed(cluster.pids)), timeout)


def _stop_pids(pids: list[int], timeout: float = 30.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline and servers.pid_exists(pid):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def read_state(path: Path) -> SparkCluster | None:
    try:
        return SparkCluster(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--memory", default="1536m", help="per worker, e.g. 1536m or 2g")
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE)
    args = parser.parse_args()
    if args.action == "up":
        running = read_state(args.state)
        if running is not None and any(servers.pid_exists(pid) for pid in running.pids):
            sys.exit(f"a cluster is already up: {running.master_url} ({args.state})")
        try:
            cluster = start(args.folder, workers=args.workers, cores=args.cores, memory=args.memory)
        except ClusterError as error:
            sys.exit(f"spark_cluster: {error}")
        args.state.write_text(json.dumps(asdict(cluster), indent=1))
        print(f"Spark master {cluster.master_url} (UI {cluster.web_url}), {args.workers} workers")
    elif args.action == "down":
        cluster = read_state(args.state)
        if cluster is None:
            sys.exit(f"no cluster recorded in {args.state}")
        stop(cluster)
        args.state.unlink()
        print(f"stopped {cluster.master_url}")
    else:
        cluster = read_state(args.state)
        alive = cluster is not None and all(servers.pid_exists(pid) for pid in cluster.pids)
        print(f"up: {cluster.master_url}" if alive and cluster else "down")


if __name__ == "__main__":
    main()
