"""``OUT/index.html``: every report run under OUT, newest first, rebuilt after each run.

The index is derived from the run folders (``run.json`` + ``params.yaml``), never edited in
place, so it cannot drift from what is on disk; a lock serialises rebuilds from overlapping
scheduled runs and the file is replaced atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tracekit.report.html import write_text_atomic

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tracekit reports</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: 0.35em 0.7em; border-bottom: 1px solid #ddd; }}
th {{ background: #f4f4f4; }}
.ok {{ color: #1b7e2c; }} .failed {{ color: #b00020; font-weight: bold; }}
.running {{ color: #8a6d00; }} code {{ font-size: 0.9em; }}
</style></head><body>
<h1>tracekit reports</h1>
<p>{count} runs, newest first. Each run folder holds the executed notebook, this HTML and the
parameters it ran with.</p>
<table>
<thead><tr><th>started (UTC)</th><th>report</th><th>dataset</th><th>parameters</th>
<th>status</th><th>seconds</th><th>files</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""


def list_runs(root: str | Path) -> list[dict[str, Any]]:
    """Every run under ``root`` (from its run.json and params.yaml), newest first."""
    runs = []
    for status_file in Path(root).glob("*/*/run.json"):
        try:
            run = json.loads(status_file.read_text())
        except (OSError, ValueError):
            continue  # a run folder being created right now
        params_file = status_file.parent / "params.yaml"
        try:
            run["params"] = yaml.safe_load(params_file.read_text()) or {}
        except (OSError, yaml.YAMLError):
            run["params"] = {}
        run["path"] = f"{status_file.parent.parent.name}/{status_file.parent.name}"
        runs.append(run)
    runs.sort(key=lambda run: (run.get("started", ""), run["path"]), reverse=True)
    return runs


def _row(run: dict[str, Any]) -> str:
    esc = html.escape
    params = dict(run["params"])
    dataset_path = Path(str(params.pop("dataset", "")))
    dataset = "/".join(dataset_path.parts[-2:])  # "demo/baseline": the name alone is often "data"
    shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "defaults"
    label = f" ({esc(run['label'])})" if run.get("label") else ""
    status = run.get("status", "?")
    detail = f"<br><small>{esc(run['error'])}</small>" if run.get("error") else ""
    files = " ".join(
        f'<a href="{esc(run["path"])}/{name}">{name.split(".")[-1]}</a>'
        for name in ("report.html", "report.ipynb", "params.yaml")
    )
    return (
        f"<tr><td>{esc(run.get('started', '')[:19].replace('T', ' '))}</td>"
        f'<td><a href="{esc(run["path"])}/report.html">{esc(run.get("name", ""))}</a></td>'
        f'<td><code title="{esc(str(dataset_path))}">{esc(dataset)}</code>{label}</td>'
        f"<td><code>{esc(shown)}</code></td>"
        f'<td class="{esc(status)}">{esc(status)}{detail}</td>'
        f"<td>{run.get('seconds', '')}</td><td>{files}</td></tr>"
    )


def write_index(root: str | Path) -> Path:
    """Rebuild ``root/index.html`` from the run folders; returns its path."""
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "index.html"
    with _index_lock(folder):
        runs = list_runs(folder)
        page = _PAGE.format(count=len(runs), rows="\n".join(_row(run) for run in runs))
        write_text_atomic(target, page)
    return target


@contextlib.contextmanager
def _index_lock(folder: Path) -> Iterator[None]:
    with open(folder / ".index.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
