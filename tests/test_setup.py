"""The first hour (issue #17): installs come from the lock, `make lab` opens the project's kernel
as root, and the notebooks' default dataset is one `tracekit demo` makes."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from importlib.metadata import distributions
from pathlib import Path

import papermill
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tracekit.demo import DEMO_DATASETS

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements" / "lock.txt"
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _locked() -> list[Requirement]:
    lines = [line.split("#")[0].strip() for line in LOCK.read_text().splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def test_the_lock_covers_every_dependency_and_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        wanted += extra
    pinned = {canonicalize_name(req.name) for req in _locked()}
    missing = sorted({canonicalize_name(Requirement(text).name) for text in wanted} - pinned)
    assert not missing, f"not in {LOCK.name}: {missing}; run `make lock` and commit the lock"
    for req in _locked():
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", req


def test_installed_versions_are_the_locked_ones() -> None:
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions()}
    wrong = []
    for req in _locked():
        if req.marker is not None and not req.marker.evaluate():
            continue  # pinned for another platform or Python
        version = next(iter(req.specifier)).version
        if installed.get(canonicalize_name(req.name)) != version:
            wrong.append(f"{req.name} {installed.get(canonicalize_name(req.name))} != {version}")
    assert not wrong, f"run `make install` (installs from {LOCK.name}): {wrong}"


def test_the_notebooks_default_dataset_is_a_demo_dataset() -> None:
    makefile = (REPO / "Makefile").read_text()
    lab_data = re.search(r"^LAB_DATA \?= (\S+)$", makefile, re.MULTILINE)
    assert lab_data is not None
    demo_names = {demo.name for demo in DEMO_DATASETS}
    for notebook in NOTEBOOKS:
        default = papermill.inspect_notebook(str(notebook))["dataset"]["default"].strip("\"'")
        dataset = (REPO / "notebooks" / default).resolve()
        # `tracekit demo` writes its datasets under data/demo (its --data default)
        assert dataset.parent == (REPO / "data" / "demo").resolve(), (notebook.name, default)
        assert dataset.name in demo_names, (notebook.name, default)
        assert REPO / lab_data.group(1) == dataset / "manifest.json", notebook.name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_make_lab_offers_the_projects_kernel_as_root(tmp_path: Path) -> None:
    port, token = _free_port(), secrets.token_hex(16)
    args = (
        f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} "
        f"--IdentityProvider.token={token}"
    )
    env = {
        **os.environ,
        # a user-level kernelspec of the same name, pointing elsewhere, must not win
        "JUPYTER_DATA_DIR": str(tmp_path / "user-data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    impostor = tmp_path / "user-data" / "kernels" / "tracekit"
    impostor.mkdir(parents=True)
    (impostor / "kernel.json").write_text(
        json.dumps(
            {"argv": ["/nonexistent/python"], "display_name": "impostor", "language": "python"}
        )
    )
    lab = subprocess.Popen(
        ["make", "--no-print-directory", "lab", "LAB_DATA=", f"LAB_ARGS={args}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # make and jupyter in a group of their own, stopped together
    )
    try:
        specs = None
        deadline = time.monotonic() + 120
        while specs is None and time.monotonic() < deadline and lab.poll() is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/kernelspecs?token={token}", timeout=5
                ) as answer:
                    specs = json.load(answer)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert specs is not None, f"JupyterLab did not answer: exit {lab.poll()}"  # root: refused
    finally:
        os.killpg(lab.pid, signal.SIGTERM)  # our own process group, by its leader's pid
        try:
            lab.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.communicate()
    assert specs["default"] == "tracekit"
    assert set(specs["kernelspecs"]) == {"tracekit"}, sorted(specs["kernelspecs"])
    spec = specs["kernelspecs"]["tracekit"]["spec"]
    assert spec["display_name"] == "tracekit (.venv)"
    assert Path(spec["argv"][0]).resolve() == Path(sys.executable).resolve()
