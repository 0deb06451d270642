"""Hand-made span datasets and data-file cases for the latency, errors and funnel tests.

A case is one YAML file under ``tests/cases/<area>/``: a list of compact ``spans`` and a list of
``checks``, each a SQL query and the rows it must return::

    spans:
      - {id: a, service: checkout, op: PlaceOrder, start: 0, end: 200, status: ERROR}
      - {id: b, parent: a, service: payment, op: Charge, start: 20, end: 60, status: ERROR}
    checks:
      - sql: SELECT span_id, rule FROM error_origins
        rows: [[b, deepest_error]]
      - sql: SELECT * FROM funnel(['checkout', 'nope'])
        error: "step 'nope' matches nothing in the data"

Span fields: ``trace`` (default ``t1``), ``id``, ``parent``, ``service``, ``op``, ``kind``
(default internal), ``start``/``end`` in milliseconds from 2024-01-01T00:00:00Z, ``status``
(default UNSET), ``message``, ``attrs`` (mapping), ``resource`` (mapping, beside
``service.name``), ``links`` (list of ``[trace, span]``) and ``events`` (list of
``{name, at, attrs}``). Adding a case edits data, not code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml

from tracekit.connect import connect
from tracekit.dataset import write_spans
from tracekit.schema import SPAN_SCHEMA

CASES = Path(__file__).resolve().parent.parent / "cases"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC).replace(tzinfo=None)


def _at(ms: float) -> datetime:
    return EPOCH + timedelta(microseconds=round(float(ms) * 1000))


def span_table(spans: Iterable[dict[str, Any]]) -> pa.Table:
    """Arrow spans (SPAN_SCHEMA) from compact dicts, see the module docstring."""
    rows = []
    for s in spans:
        start, end = _at(s["start"]), _at(s["end"])
        rows.append(
            {
                "trace_id": str(s.get("trace", "t1")),
                "span_id": str(s["id"]),
                "parent_span_id": None if s.get("parent") is None else str(s["parent"]),
                "service": s.get("service"),
                "operation": s.get("op"),
                "kind": s.get("kind", "internal"),
                "start_time": start,
                "end_time": end,
                "duration_us": round((float(s["end"]) - float(s["start"])) * 1000),
                "status": s.get("status", "UNSET"),
                "status_message": s.get("message"),
                "attributes": [(str(k), str(v)) for k, v in (s.get("attrs") or {}).items()],
                "resource": [("service.name", str(s.get("service")))]
                + [(str(k), str(v)) for k, v in (s.get("resource") or {}).items()],
                "links": [
                    {"trace_id": str(t), "span_id": str(i), "kind": "follows_from"}
                    for t, i in (s.get("links") or [])
                ],
                "events": [
                    {
                        "time": _at(e.get("at", s["start"])),
                        "name": e["name"],
                        "attributes": [(str(k), str(v)) for k, v in (e.get("attrs") or {}).items()],
                    }
                    for e in (s.get("events") or [])
                ],
            }
        )
    return pa.Table.from_pylist(rows, schema=SPAN_SCHEMA)


def load_cases(area: str) -> list[Any]:
    """``pytest.param(case_dict, id=file stem)`` for every case file of an area."""
    files = sorted((CASES / area).glob("*.yaml"))
    return [pytest.param(yaml.safe_load(f.read_text()), id=f.stem) for f in files]


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value


def run_case(con: duckdb.DuckDBPyConnection, case: dict[str, Any]) -> None:
    """Run every check of a case and compare rows (floats rounded to 6 places); a check with
    ``error`` instead of ``rows`` must fail with a one-line message containing that text."""
    for check in case["checks"]:
        if "error" in check:
            with pytest.raises(duckdb.Error) as failure:
                con.execute(check["sql"]).fetchall()
            message = str(failure.value).strip()
            assert check["error"] in message and "\n" not in message, message
            continue
        got = [_normal(list(row)) for row in con.execute(check["sql"]).fetchall()]
        want = [_normal(list(row)) for row in check["rows"]]
        assert got == want, f"{check['sql']}\n got: {got}\nwant: {want}"


@pytest.fixture
def span_dataset(
    tmp_path: Path,
) -> Iterator[Callable[[Iterable[dict[str, Any]]], duckdb.DuckDBPyConnection]]:
    """Write compact spans to a fresh dataset and return a tracekit connection to it."""
    made: list[duckdb.DuckDBPyConnection] = []

    def make(spans: Iterable[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
        path = tmp_path / f"ds{len(made)}"
        write_spans(path, [span_table(spans)], source={"kind": "test"})
        made.append(connect(path))
        return made[-1]

    yield make
    for con in made:
        con.close()
