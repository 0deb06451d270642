#!/usr/bin/env python3
"""The message-queue pipeline's own virtual environment: `python scripts/pipeline_venv.py`.

The pipeline's services (tests/realsys/pipeline: Flask, requests and pika with the real
OpenTelemetry instrumentations) must not share tracekit's environment, so they get their own,
installed from the pinned tests/realsys/pipeline/requirements.txt into
``${XDG_CACHE_HOME:-~/.cache}/tracekit/pipeline-venv-HASH`` (HASH: the first 12 hex digits of
the file's SHA-256, so a changed pin makes a new environment). It is built once (pip from PyPI,
~30 s) and reused; a `.complete` marker written last tells a finished build from an interrupted
one, and a lock keeps two callers from building at once. Prints the environment's python.

Importable: tests/plugins/rabbitmq.py calls `python_path()` (None when it is not built yet).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "tests" / "realsys" / "pipeline" / "requirements.txt"
HOW_TO_BUILD = "run `.venv/bin/python scripts/pipeline_venv.py` once (pip installs the pins)"


class PipelineVenvError(Exception):
    """The environment could not be built; the message says why."""


def venv_dir() -> Path:
    """The environment's folder for the current requirements file."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tracekit" / f"pipeline-venv-{digest}"


def python_path() -> Path | None:
    """The environment's python when it is built, else None."""
    folder = venv_dir()
    python = folder / "bin" / "python"
    return python if (folder / ".complete").exists() and python.exists() else None


def ensure(log: bool = True) -> Path:
    """Build the environment when missing; return its python."""
    ready = python_path()
    if ready is not None:
        return ready
    folder = venv_dir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = python_path()
        if ready is not None:  # built by someone else while we waited
            return ready
        shutil.rmtree(folder, ignore_errors=True)
        if log:
            print(f"building the pipeline's environment in {folder} (one time)", file=sys.stderr)
        steps = [
            [sys.executable, "-m", "venv", str(folder)],
            [
                str(folder / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "-r",
                str(REQUIREMENTS),
            ],
        ]
        for step in steps:
            result = subprocess.run(
                step, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            if result.returncode != 0:
                tail = "\n".join(result.stdout.strip().splitlines()[-10:])
                raise PipelineVenvError(
                    f"`{' '.join(step[1:4])}` failed ({result.returncode}):\n{tail}"
                )
        (folder / ".complete").write_text(REQUIREMENTS.read_text())
    return folder / "bin" / "python"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is built")
    args = parser.parse_args(argv)
    if args.check:
        found = python_path()
        print(found or f"not built: {HOW_TO_BUILD}")
        return 0 if found else 1
    try:
        print(ensure())
    except PipelineVenvError as error:
        print(f"pipeline_venv: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
