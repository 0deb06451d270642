"""Build hook: ship the report notebooks (source of truth: notebooks/) inside the wheel.

``tracekit report`` reads ``notebooks/`` beside the package in a checkout or editable install
and ``tracekit/notebooks/`` in an installed wheel; this copies them there at build time, so the
two never diverge in the repository. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithNotebooks(build_py):
    """``build_py`` that also copies ``notebooks/*.ipynb`` into ``tracekit/notebooks/``."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "tracekit" / "notebooks"
        target.mkdir(parents=True, exist_ok=True)
        for notebook in sorted((HERE / "notebooks").glob("*.ipynb")):
            shutil.copyfile(notebook, target / notebook.name)


setup(cmdclass={"build_py": BuildPyWithNotebooks})
