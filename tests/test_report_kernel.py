"""Reports run on this interpreter's kernel, whatever kernelspecs the machine has."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tracekit.report.runner import run_reports


def test_a_foreign_python3_kernelspec_is_not_used(
    simulated: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A user-level "python3" kernelspec pointing at another Python (a common leftover) would
    # win papermill's lookup; the report must still run on the interpreter tracekit runs in.
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    "/nonexistent/python3",
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "someone else's Python",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    folder = tmp_path / "notebooks"
    folder.mkdir()
    params = nbformat.v4.new_code_cell(
        'dataset: str = ""  # d\nsince: str = ""  # s\nstart: str = ""  # s\n'
        'end: str = ""  # e\nservices: list = []  # s'
    )
    params.metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook(
        cells=[params, nbformat.v4.new_code_cell("import sys\nprint(sys.executable)")]
    )
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, folder / "explore.ipynb")
    monkeypatch.setenv("TRACEKIT_NOTEBOOKS", str(folder))
    dataset, _ = simulated("mes-saturated", hours=1.0, seed=7)
    (result,) = run_reports(["explore"], dataset, tmp_path / "reports")
    assert result.ok, result.error
    executed = nbformat.read(result.notebook, 4)
    assert executed.cells[-1].outputs[0]["text"].strip() == sys.executable
