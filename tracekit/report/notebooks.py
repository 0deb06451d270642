"""Where the report notebooks are: one source of truth, ``notebooks/`` in the repository.

Lookup order:

1. ``$TRACEKIT_NOTEBOOKS``, a folder of your own notebooks with the same names;
2. ``notebooks/`` beside the ``tracekit`` package, i.e. a source checkout or an editable
   install (what ``make lab`` edits is what ``tracekit report`` runs);
3. ``tracekit/notebooks/`` inside an installed wheel, where ``setup.py``'s ``build_py`` copies
   ``notebooks/*.ipynb`` at build time (they are never committed there).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from tracekit.errors import UserError

NOTEBOOKS = ("explore", "bottlenecks", "order_loss", "capacity", "compare")


def notebook_dir() -> Path:
    """The folder the report notebooks are read from (see the module docstring)."""
    override = os.environ.get("TRACEKIT_NOTEBOOKS")
    if override:
        return Path(override)
    package = Path(str(resources.files("tracekit")))
    checkout = package.parent / "notebooks"
    if (checkout / f"{NOTEBOOKS[0]}.ipynb").is_file():
        return checkout
    return package / "notebooks"


def notebook_path(name: str) -> Path:
    """The notebook of report ``name``; a UserError for an unknown or missing one."""
    if name not in NOTEBOOKS:
        raise UserError(f"unknown report {name!r}; choose one of {', '.join(NOTEBOOKS)} or all")
    path = notebook_dir() / f"{name}.ipynb"
    if not path.is_file():
        raise UserError(
            f"{path}: report notebook not found (set TRACEKIT_NOTEBOOKS to a folder "
            "holding it, or reinstall tracekit)"
        )
    return path


def report_names(selection: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"all"`` -> every report; a name or list of names -> themselves, checked."""
    names = [selection] if isinstance(selection, str) else list(selection)
    if "all" in names:
        return list(NOTEBOOKS)
    for name in names:
        notebook_path(name)
    return names
