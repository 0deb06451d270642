"""The committed report notebooks: clean (no outputs), papermill's parameter contract, packaging."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from tests.conftest import REPO
from tracekit.report.notebooks import NOTEBOOKS, notebook_dir, notebook_path

NOTEBOOK_FILES = sorted((REPO / "notebooks").glob("*.ipynb"))

COMMON = {"dataset": "str", "since": "str", "start": "str", "end": "str", "services": "list"}
SPECIFIC = {
    "explore": {"jaeger_ui_url": "str"},
    "bottlenecks": {"jaeger_ui_url": "str"},
    "order_loss": {"flow": "str", "jaeger_ui_url": "str"},
    "capacity": {"multipliers": "list", "slo_p95_ms": "float", "replay_spans": "int"},
    "compare": {"before": "str", "before_start": "str", "before_end": "str", "flow": "str"},
}


def test_every_report_has_its_notebook() -> None:
    assert sorted(p.stem for p in NOTEBOOK_FILES) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; clear them"
    nbformat.validate(notebook)


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_parameters_cell_is_tagged_and_validated_next(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be parameters"
    assert "validate_params(" in code[1].source, "the cell after parameters must validate them"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_papermill_parameter_contract(name: str) -> None:
    declared = papermill.inspect_notebook(str(REPO / "notebooks" / f"{name}.ipynb"))
    types = {key: info["inferred_type_name"] for key, info in declared.items()}
    assert types == {**COMMON, **SPECIFIC[name]}
    assert all(info["help"] for info in declared.values()), "every parameter needs a help comment"


def test_notebooks_found_in_checkout_and_by_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert notebook_dir() == REPO / "notebooks"
    monkeypatch.setenv("TRACEKIT_NOTEBOOKS", str(tmp_path))
    assert notebook_dir() == tmp_path


def test_build_ships_notebooks_inside_the_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "-d", str(tmp_path)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    shipped = sorted(p.name for p in (tmp_path / "tracekit" / "notebooks").glob("*.ipynb"))
    assert shipped == sorted(f"{name}.ipynb" for name in NOTEBOOKS)
    for name in NOTEBOOKS:
        assert (tmp_path / "tracekit" / "notebooks" / f"{name}.ipynb").read_bytes() == (
            notebook_path(name).read_bytes()
        )
