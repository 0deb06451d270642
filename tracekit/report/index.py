"""``OUT/index.html``: every report run under OUT, rebuilt after each run.

The page opens with the latest run of each report (per dataset and parameters), its key finding
and how its key figures moved since the previous run of the same report on the same data; all
runs follow, newest first. It is derived from the run folders (``run.json``, where the runner
copies each run's verdict, and ``params.yaml``), never edited in place, so it cannot drift from
what is on disk; a lock serialises rebuilds from overlapping scheduled runs and the file is
replaced atomically. Everything shown is escaped (findings carry names from trace data), and
the page allows no script at all (Content-Security-Policy).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tracekit.report.csp import with_csp
from tracekit.report.escape import escape, href
from tracekit.report.html import write_text_atomic
from tracekit.report.verdict import format_change, format_figure

# Parameters that move the window along: runs differing only in these are the same report on
# the same data, and their figures are compared.
_WINDOW_PARAMS = frozenset({"since", "start", "end"})

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tracekit reports</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #222; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 2em; }}
th, td {{ text-align: left; padding: 0.4em 0.7em; border-bottom: 1px solid #ddd;
         vertical-align: top; }}
th {{ background: #f4f4f4; }}
.ok {{ color: #1b7e2c; }} .failed {{ color: #b00020; font-weight: bold; }}
.running {{ color: #8a6d00; }} code {{ font-size: 0.9em; }}
.finding {{ font-weight: 600; }} .figures {{ color: #444; font-size: 0.92em; }}
.change {{ color: #1f5fa8; white-space: nowrap; }}
</style></head><body>
<h1>tracekit reports</h1>
<h2>Latest run of each report</h2>
<p>The key finding of each report's newest run, and how its figures moved since the previous run
of the same report on the same dataset and parameters.</p>
<table>
<thead><tr><th>report</th><th>dataset</th><th>key finding</th><th>figures (change since the
previous run)</th><th>started (UTC)</th><th>status</th></tr></thead>
<tbody>
{latest}
</tbody></table>
<h2>All runs</h2>
<p>{count} runs, newest first. Each run folder holds the executed notebook, the HTML and the
parameters it ran with.</p>
<table>
<thead><tr><th>started (UTC)</th><th>report</th><th>dataset</th><th>parameters</th>
<th>key finding</th><th>status</th><th>seconds</th><th>files</th></tr></thead>
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
        if not isinstance(run, dict):
            continue
        params_file = status_file.parent / "params.yaml"
        try:
            params = yaml.safe_load(params_file.read_text()) or {}
        except (OSError, yaml.YAMLError):
            params = {}
        run["params"] = params if isinstance(params, dict) else {}
        run["path"] = f"{status_file.parent.parent.name}/{status_file.parent.name}"
        runs.append(run)
    runs.sort(key=lambda run: (str(run.get("started", "")), run["path"]), reverse=True)
    return runs


def series_key(run: dict[str, Any]) -> tuple[str, str]:
    """Runs of one report on one dataset with the same parameters (the window aside)."""
    params = {k: v for k, v in run["params"].items() if k not in _WINDOW_PARAMS}
    return str(run.get("name", "")), json.dumps(params, sort_keys=True, default=str)


def latest_runs(runs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The newest run of each series with the previous finished run of that series (or None),
    newest first. ``runs`` must be newest first, as :func:`list_runs` gives them."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    previous: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        key = series_key(run)
        if key not in newest:
            newest[key] = run
        elif key not in previous and run.get("status") == "ok":
            previous[key] = run
    return [(run, previous.get(key)) for key, run in newest.items()]


def _dataset(run: dict[str, Any]) -> str:
    dataset_path = Path(str(run["params"].get("dataset", "")))
    dataset = "/".join(dataset_path.parts[-2:])  # as the runner's dataset_label
    label = f" ({escape(run['label'])})" if run.get("label") else ""
    return f'<code title="{escape(str(dataset_path))}">{escape(dataset)}</code>{label}'


def _status(run: dict[str, Any]) -> str:
    status = str(run.get("status", "?"))
    detail = f"<br><small>{escape(run['error'])}</small>" if run.get("error") else ""
    return f'<td class="{escape(status)}">{escape(status)}{detail}</td>'


def _finding(run: dict[str, Any]) -> str:
    headline = run.get("headline")
    if not headline:
        return "–"
    action = f"<br><small>{escape(run['action'])}</small>" if run.get("action") else ""
    return f'<span class="finding">{escape(headline)}</span>{action}'


def _figures(run: dict[str, Any], before: dict[str, Any] | None) -> str:
    earlier = {f.get("key"): f for f in (before or {}).get("figures") or [] if isinstance(f, dict)}
    parts = []
    for figure in run.get("figures") or []:
        if not isinstance(figure, dict):
            continue
        kind = str(figure.get("kind", "number"))
        value = _number(figure.get("value"))
        text = f"{escape(figure.get('label', ''))} {format_figure(kind, value)}"
        old = earlier.get(figure.get("key"))
        if old is not None:
            moved = format_change(kind, _number(old.get("value")), value)
            if moved:
                text += f' <span class="change">({escape(moved)})</span>'
        parts.append(text)
    if not parts:
        return "–"
    since = ""
    if before is not None:
        when = str(before.get("started", ""))[:16].replace("T", " ")
        since = f"<br><small>previous run {escape(when)}</small>"
    return f'<span class="figures">{" &#183; ".join(parts)}</span>{since}'


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _started(run: dict[str, Any]) -> str:
    return escape(str(run.get("started", ""))[:19].replace("T", " "))


def _latest_row(run: dict[str, Any], before: dict[str, Any] | None) -> str:
    return (
        f'<tr><td><a href="{href(run["path"])}/report.html">{escape(run.get("name", ""))}</a>'
        f"</td><td>{_dataset(run)}</td><td>{_finding(run)}</td>"
        f"<td>{_figures(run, before)}</td><td>{_started(run)}</td>{_status(run)}</tr>"
    )


def _row(run: dict[str, Any]) -> str:
    params = {k: v for k, v in run["params"].items() if k != "dataset"}
    shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "defaults"
    files = " ".join(
        f'<a href="{href(run["path"])}/{name}">{name.split(".")[-1]}</a>'
        for name in ("report.html", "report.ipynb", "params.yaml")
    )
    headline = escape(run["headline"]) if run.get("headline") else "–"
    return (
        f"<tr><td>{_started(run)}</td>"
        f'<td><a href="{href(run["path"])}/report.html">{escape(run.get("name", ""))}</a></td>'
        f"<td>{_dataset(run)}</td><td><code>{escape(shown)}</code></td>"
        f"<td><small>{headline}</small></td>{_status(run)}"
        f"<td>{escape(run.get('seconds', ''))}</td><td>{files}</td></tr>"
    )


def write_index(root: str | Path) -> Path:
    """Rebuild ``root/index.html`` from the run folders; returns its path."""
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "index.html"
    with _index_lock(folder):
        runs = list_runs(folder)
        page = _PAGE.format(
            count=len(runs),
            latest="\n".join(_latest_row(run, before) for run, before in latest_runs(runs)),
            rows="\n".join(_row(run) for run in runs),
        )
        write_text_atomic(target, with_csp(page))
    return target


@contextlib.contextmanager
def _index_lock(folder: Path) -> Iterator[None]:
    with open(folder / ".index.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
