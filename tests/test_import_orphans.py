"""A SIGKILLed `tracekit import` leaves none of its processes behind (issue #13 item 5): its spawn
workers and multiprocessing's resource tracker die with it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.cli import TRACEKIT


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every process below ``root``."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                parents.setdefault(found[1], []).append(int(entry.name))
    tree: dict[int, int] = {}
    stack = [root]
    while stack:
        for child in parents.get(stack.pop(), []):
            found = _stat(child)
            if found is not None:
                tree[child] = found[2]
                stack.append(child)
    return tree


def _alive(pid: int, started: int) -> bool:
    found = _stat(pid)
    return found is not None and found[2] == started and found[0] not in ("Z", "X")


def test_sigkilled_import_leaves_no_process(tmp_path: Path) -> None:
    # FIFOs with no writer: each worker blocks opening its file, so the import is sure to be
    # mid-read, with its workers up, when it is killed
    inputs = [tmp_path / f"traces-{number}.json" for number in range(2)]
    for path in inputs:
        os.mkfifo(path)
    proc = subprocess.Popen(
        [*TRACEKIT, "import", *map(str, inputs), "--out", str(tmp_path / "ds"), "--jobs", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    tree: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(tree) < 3 and proc.poll() is None:
            time.sleep(0.2)
            tree = _descendants(proc.pid)
        assert len(tree) >= 3, (  # two workers and the resource tracker
            f"workers did not start: {tree}, exit {proc.poll()}"
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p, s) for p, s in tree.items()):
            time.sleep(0.2)
        survivors = [pid for pid, started in tree.items() if _alive(pid, started)]
        assert not survivors, f"still running 10 s after the import was killed: {survivors}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid, started in tree.items():  # a failed run must not leave them either
            if _alive(pid, started):
                os.kill(pid, signal.SIGKILL)
        if proc.stderr is not None:
            proc.stderr.close()
