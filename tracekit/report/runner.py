"""Run report notebooks with papermill into ``OUT/NAME/STAMP/`` and keep ``OUT/index.html``.

Each run folder holds ``report.ipynb`` (executed; saved after every cell, so a failing run keeps
its partial output), ``report.html`` (offline), ``params.yaml`` (exactly what the notebook got,
reusable as ``papermill -f params.yaml``), ``run.json`` (status, seconds, the failing cell) and,
when the kernel wrote to its own stderr (a native crash message), ``kernel.log``.
Parameters are type-checked against the notebook's declared types and value-checked with
:func:`tracekit.report.params.validate_params` before any kernel starts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import papermill
import yaml

from tracekit.errors import UserError
from tracekit.report.findings import read_findings
from tracekit.report.html import PageHeader, write_html, write_text_atomic
from tracekit.report.index import write_index
from tracekit.report.kernel import KERNEL_LOG, KERNEL_NAME, CurrentPythonKernelManager
from tracekit.report.notebooks import notebook_path, report_names
from tracekit.report.params import check_param_type, coerce_param, validate_params
from tracekit.report.prose import period


@dataclass
class RunResult:
    """The outcome of one report run."""

    name: str
    folder: Path
    status: str  # "ok" or "failed"
    seconds: float
    params: dict[str, Any]
    error: str | None = None
    failed_cell: int | None = None
    user_error: bool = False
    label: str | None = None
    started: str = field(default="")
    headline: str | None = None  # the verdict's first line, for the index
    action: str | None = None
    figures: list[dict[str, Any]] = field(default_factory=list)  # key figures (verdict.Figure)

    @property
    def html(self) -> Path:
        return self.folder / "report.html"

    @property
    def notebook(self) -> Path:
        return self.folder / "report.ipynb"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class PlannedRun:
    """A notebook with its checked parameters, ready to execute."""

    name: str
    path: Path
    params: dict[str, Any]


def declared_params(path: Path) -> dict[str, dict[str, Any]]:
    """The notebook's ``parameters`` cell as papermill sees it: name -> {inferred_type_name...}."""
    return dict(papermill.inspect_notebook(str(path)))


def plan_reports(
    names: str | list[str] | tuple[str, ...],
    dataset: str | Path,
    params: Mapping[str, Any] | None = None,
    *,
    text_params: Mapping[str, str] | None = None,
) -> list[PlannedRun]:
    """Check everything a run needs, without running: names, parameter names, types and values.

    ``params`` are Python values (checked against the declared types); ``text_params`` are
    command-line text (converted to the declared types). A parameter no selected notebook
    declares is an error; one declared by only some notebooks goes to those.
    """
    selected = report_names(names)
    given: dict[str, tuple[Any, bool]] = {k: (v, False) for k, v in (params or {}).items()}
    given.update({k: (v, True) for k, v in (text_params or {}).items()})
    given.pop("dataset", None)
    declared = {name: declared_params(notebook_path(name)) for name in selected}
    known = set().union(*(d.keys() for d in declared.values()))
    unknown = sorted(set(given) - known)
    if unknown:
        raise UserError(
            f"unknown parameter {unknown[0]!r} for report {', '.join(selected)}; "
            f"parameters: {', '.join(sorted(known))}"
        )
    dataset_text = str(Path(dataset).expanduser().resolve())
    plans = []
    for name in selected:
        values: dict[str, Any] = {"dataset": dataset_text}
        for key, (value, is_text) in given.items():
            if key not in declared[name]:
                continue
            kind = declared[name][key].get("inferred_type_name")
            kind = None if kind == "None" else kind
            if is_text:
                value = coerce_param(name, key, value, kind)
            check_param_type(name, key, value, kind)
            values[key] = value
        try:
            validate_params(**_with_defaults(values, declared[name]))
        except UserError as exc:
            raise UserError(f"report {name}: {exc}") from None
        plans.append(PlannedRun(name, notebook_path(name), values))
    return plans


def _with_defaults(values: dict[str, Any], declared: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Values merged over the notebook's own defaults, so validation sees the whole set."""
    merged: dict[str, Any] = {}
    for key, info in declared.items():
        try:
            merged[key] = yaml.safe_load(info["default"]) if info.get("default") else None
        except yaml.YAMLError:
            merged[key] = info["default"].strip("\"'")
    merged.update(values)
    return {k: v for k, v in merged.items() if v is not None}


def run_planned(
    plan: PlannedRun, out: str | Path = "reports", *, label: str | None = None
) -> RunResult:
    """Execute one planned report into a new run folder; never raises for a notebook failure."""
    root = Path(out)
    folder = _new_run_folder(root, plan.name)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    (folder / "params.yaml").write_text(yaml.safe_dump(plan.params, sort_keys=True))
    result = RunResult(plan.name, folder, "running", 0.0, plan.params, label=label, started=started)
    _write_status(result)
    write_index(root)
    began = time.monotonic()
    kernel_log = folder / KERNEL_LOG
    try:
        papermill.execute_notebook(
            str(plan.path),
            str(result.notebook),
            parameters=plan.params,
            kernel_name=KERNEL_NAME,
            kernel_manager_class=CurrentPythonKernelManager,
            progress_bar=False,
            request_save_on_cell_execute=True,
            cwd=str(folder),
        )
        result.status = "ok"
    except papermill.PapermillExecutionError as exc:
        result.status = "failed"
        result.failed_cell = exc.cell_index + 1  # counted from 1, as a reader counts
        result.user_error = exc.ename == "UserError"
        first_line = exc.source.strip().splitlines()[0] if exc.source.strip() else ""
        result.error = (
            f"cell {exc.cell_index + 1} (In [{exc.exec_count}]: {first_line[:60]!r}) raised "
            f"{exc.ename}: {' '.join(str(exc.evalue).split())}"
        )
    except Exception as exc:  # the kernel died or never started: still record the run
        result.status = "failed"
        result.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        if _has_content(kernel_log):
            result.error += f" (the kernel's stderr: {kernel_log})"
    if kernel_log.exists() and not _has_content(kernel_log):
        kernel_log.unlink()
    if result.notebook.exists():
        try:
            findings = read_findings(result.notebook)
            result.headline = findings.get("headline")
            result.action = findings.get("action")
            result.figures = list(findings.get("figures") or [])
            title, header = page_title(plan, findings)
            write_html(result.notebook, result.html, title=title, header=header)
        except Exception as exc:  # a half-written notebook must not hide the real error
            result.error = (result.error or "") + f"; HTML export failed: {exc}"
            result.status = "failed"
    result.seconds = round(time.monotonic() - began, 2)  # execution and HTML export
    _write_status(result)
    write_index(root)
    return result


def dataset_label(dataset: object) -> str:
    """A dataset's folder as the index and page headers name it: its last two path parts
    ("demo/workshop-day"; the name alone is often just "data" or "dataset")."""
    return "/".join(Path(str(dataset)).parts[-2:])


def page_title(plan: PlannedRun, findings: dict[str, Any]) -> tuple[str, PageHeader]:
    """The page's ``<title>`` and header: report, dataset, window and when it was generated."""
    dataset = dataset_label(plan.params.get("dataset", ""))
    window = ""
    start, end = findings.get("window_start"), findings.get("window_end")
    if start and end:
        window = str(period(datetime.fromisoformat(start), datetime.fromisoformat(end)))
    generated = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    header = PageHeader(report=plan.name, dataset=dataset, window=window, generated=generated)
    title = " · ".join(part for part in (plan.name, dataset, window) if part) + " · tracekit"
    return title, header


def run_report(
    name: str,
    dataset: str | Path,
    out: str | Path = "reports",
    params: Mapping[str, Any] | None = None,
    *,
    label: str | None = None,
) -> RunResult:
    """Run one report notebook. Bad parameters raise UserError before any kernel starts.

    >>> run_report("bottlenecks", "data/demo", params={"since": "6h"})  # doctest: +SKIP
    RunResult(name='bottlenecks', folder=PosixPath('reports/bottlenecks/20261125T010203Z'), ...)
    """
    return run_reports([name], dataset, out, params, label=label)[0]


def run_reports(
    names: str | list[str] | tuple[str, ...] = "all",
    dataset: str | Path = "",
    out: str | Path = "reports",
    params: Mapping[str, Any] | None = None,
    *,
    text_params: Mapping[str, str] | None = None,
    label: str | None = None,
    on_result: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Run reports (``"all"`` or names) on ``dataset`` into ``out``; returns one result per report.

    Every report is checked first (UserError, nothing run); then each runs even when an earlier
    one failed. ``OUT/index.html`` lists every run. ``label`` tags the runs in the index (e.g. the
    scenario a demo dataset came from); ``on_result`` is called after each run (progress output).

    >>> results = run_reports("all", "data/demo", "reports", {"since": "24h"})  # doctest: +SKIP
    >>> [r.status for r in results]  # doctest: +SKIP
    ['ok', 'ok', 'ok', 'ok']
    """
    plans = plan_reports(names, dataset, params, text_params=text_params)
    results = []
    for plan in plans:
        result = run_planned(plan, out, label=label)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _has_content(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def _new_run_folder(root: Path, name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    parent = root / name
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            folder.mkdir()  # exclusive: two runs in one second get -2, -3 ...
            return folder
        except FileExistsError:
            continue
    raise UserError(f"{parent}: cannot create a run folder for stamp {stamp}")


def _write_status(result: RunResult) -> None:
    payload = asdict(result)
    payload["folder"] = result.folder.name
    payload.pop("params")
    write_text_atomic(result.folder / "run.json", json.dumps(payload, indent=1) + "\n")
