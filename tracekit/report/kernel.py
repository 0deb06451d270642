"""The kernel reports run on: this very interpreter, whatever kernelspecs the machine has.

papermill would look the notebook's kernel name ("python3") up in the Jupyter paths, where a
user-level kernelspec may point at another Python without tracekit. Pinning the kernel to
``sys.executable`` makes `tracekit report` from .venv, pipx or cron run the code it ships with.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from traitlets import Unicode

KERNEL_NAME = "python3"
# The kernel's own stderr, in the folder it runs in (papermill runs it in the report's folder).
KERNEL_LOG = "kernel.log"


class CurrentPythonKernelManager(AsyncKernelManager):  # type: ignore[misc]
    """An AsyncKernelManager whose kernel is ipykernel on ``sys.executable``."""

    # IPC sockets instead of loopback TCP: no ports to collide on a busy scheduler host, and the
    # kernel does not warn about unencrypted TCP on every run.
    transport = Unicode("ipc")

    _stderr_log: IO[bytes] | None = None

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        # What the kernel prints outside Jupyter's channels (DuckDB's progress bar from a JupySQL
        # cursor, a native library's last words as the kernel exits) would land in the terminal
        # or the cron mail; reports get their output through the channels anyway. stdout is
        # dropped; stderr is kept in KERNEL_LOG, for a kernel that dies.
        kw.setdefault("stdout", subprocess.DEVNULL)
        if "stderr" not in kw:
            folder = Path(kw.get("cwd") or os.getcwd())
            self._stderr_log = kw["stderr"] = (folder / KERNEL_LOG).open("ab")
        return await super()._async_pre_start_kernel(**kw)  # type: ignore[no-any-return]

    async def _async_post_start_kernel(self, **kw: Any) -> None:
        if self._stderr_log is not None:  # the kernel has its own copy of the descriptor
            self._stderr_log.close()
            self._stderr_log = None
        await super()._async_post_start_kernel(**kw)

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} (tracekit)",
                language="python",
                metadata={"debugger": False},
            )
        return self._kernel_spec
