"""Errors: breakdowns and error_origins on hand-made cases, jaeger-skills captures and
simulated workshop data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import drawn
from tests.plugins.analytics import load_cases, run_case
from tests.plugins.simulated import SLOW_DETECT
from tracekit.analytics.errors import error_breakdown, error_origins
from tracekit.connect import connect
from tracekit.dataset import write_spans
from tracekit.importers import read_file


@pytest.mark.parametrize("case", load_cases("errors"))
def test_errors_case(case: dict[str, Any], span_dataset: Any) -> None:
    run_case(span_dataset(case["spans"]), case)


@pytest.mark.parametrize("fixture", ["error_timeout_masked", "sibling_errors"])
def test_error_origin_matches_jaeger_skills_manifest(
    fixture: str, eval_dir: Path, tmp_path: Path
) -> None:
    folder = eval_dir / "jaeger-skills"
    manifest = json.loads((folder / f"{fixture}.manifest.json").read_text())
    write_spans(tmp_path / "ds", read_file(folder / f"{fixture}.json"))
    with connect(tmp_path / "ds") as con:
        origins = error_origins(con)
    assert len(origins) == 1
    row = origins.iloc[0]
    expected = manifest["expected"]
    assert row["trace_id"] == manifest["trace_id"]
    assert (row["span_id"], row["service"], row["operation"]) == (
        expected["locus_span_id"],
        expected["locus_service"],
        expected["locus_operation"],
    )
    # The naive rule's answer differs (that is the point of these fixtures).
    naive = manifest["naive_answer"].get("deepest_errored_span_id")
    assert naive != row["span_id"]
    if "mechanism" in expected:
        assert expected["mechanism"] in row["reason"]


def test_timeout_reason_names_the_span_that_gave_up(eval_dir: Path, tmp_path: Path) -> None:
    folder = eval_dir / "jaeger-skills"
    write_spans(tmp_path / "ds", read_file(folder / "error_timeout_masked.json"))
    with connect(tmp_path / "ds") as con:
        row = error_origins(con).iloc[0]
    assert row["rule"] == "timeout"
    assert row["error_span_id"] == "247a43490cfe60cd"
    assert row["reason"].startswith("timeout: frontend-proxy POST gave up after 15001.5 ms")
    assert row["status"] != "ERROR"


@pytest.fixture(scope="module")
def workshop(simulated: Any) -> Any:
    path, truth = simulated(str(SLOW_DETECT), hours=1, seed=3)
    con = connect(path)
    yield con, truth
    con.close()


def test_one_origin_per_errored_trace(workshop: Any) -> None:
    con, _ = workshop
    origins = error_origins(con)
    errored = con.execute(
        "SELECT count(DISTINCT trace_id) FROM spans WHERE status = 'ERROR'"
    ).fetchall()[0][0]
    assert errored > 0
    assert len(origins) == origins["trace_id"].nunique() == errored


def test_origins_agree_with_truth_of_failed_orders(workshop: Any) -> None:
    """Every failed order's origin is in the component the simulator failed first."""
    con, truth = workshop
    # An order's origin is in its own trace, or (api-errors' consumers start traces of their
    # own, linked to the producer) in a consumer's trace linking to it: a failure at crm.
    origins = con.execute(
        "WITH linked AS (SELECT DISTINCT trace_id, order_trace FROM ("
        "  SELECT trace_id, unnest(list_transform(links, lambda l: l.trace_id)) AS order_trace"
        "  FROM spans WHERE len(links) > 0) WHERE order_trace <> trace_id) "
        "SELECT coalesce(l.order_trace, o.trace_id), o.trace_id, o.service, s.kind, "
        "       s.attributes['peer.service'] "
        "FROM error_origins AS o JOIN spans AS s USING (trace_id, span_id) "
        "LEFT JOIN linked AS l ON l.trace_id = o.trace_id"
    ).fetchall()
    where: dict[str, tuple[Any, Any, Any]] = {}
    for order_trace, trace, service, kind, peer in origins:
        if order_trace not in where or trace == order_trace:  # its own trace's origin first
            where[order_trace] = (service, kind, peer)
    failed = [o for o in truth["lost_orders"] if o["reason"] != "in_flight"]
    reasons = {o["reason"] for o in failed}
    assert {"error", "instance_down"} <= reasons, f"seed {truth['seed']}"
    for order in failed:
        service, kind, peer = where[order["trace_id"]]
        if order["reason"] == "error":
            assert service == order["component"], (f"seed {truth['seed']}", order)
        else:
            # A refused connection (or a timeout whose callee never started) is seen first by
            # the caller's client span; it names the callee.
            assert service == order["component"] or (kind, peer) == ("client", order["component"])


def test_breakdown_counts_http_codes(workshop: Any) -> None:
    con, _ = workshop
    table = error_breakdown(con)
    http = table[table["dimension"] == "http_status"]
    total = con.execute(
        "SELECT count(*) FROM spans WHERE attributes['http.response.status_code'] = '500'"
    ).fetchall()[0][0]
    assert http[http["value"] == "500"]["spans"].sum() == total
    status = table[table["dimension"] == "status"].groupby("service")["share"].sum()
    assert (status.round(6) == 1.0).all()


@pytest.mark.parametrize(
    ("shape", "spans", "origin"), [("wide", 10_000, "5000"), ("chain", 3_000, "2999")]
)
def test_big_traces(shape: str, spans: int, origin: str, span_dataset: Any) -> None:
    """A 10k-span fan-out and a 3k-deep chain, errors in the middle and at the end: the walk
    terminates and picks the deepest (the chain's end) or the earliest of equals (fan-out)."""
    rows = []
    for i in range(spans):
        parent = None if i == 0 else str(i - 1) if shape == "chain" else "0"
        end = 1000 - i * 0.01 if shape == "chain" else i * 0.01 + 5
        status = "ERROR" if i in (spans - 1, spans // 2) else "UNSET"
        rows.append(
            {
                "id": str(i),
                "parent": parent,
                "service": f"s{i % 3}",
                "op": "x",
                "start": i * 0.01,
                "end": end,
                "status": status,
            }
        )
    con = span_dataset(rows)
    assert [row[0] for row in con.execute("SELECT span_id FROM error_origins").fetchall()] == [
        origin
    ]


def _oracle(spans: dict[str, dict[str, Any]]) -> tuple[str, str] | None:
    """The documented error_origins rules for one trace, walked in plain Python (None: the
    trace has no row)."""
    children: dict[str, list[str]] = {}
    for sid, s in spans.items():
        if s["parent"] in spans and s["parent"] != sid:
            children.setdefault(s["parent"], []).append(sid)
    depth: dict[str, int] = {}
    tops = [sid for sid, s in spans.items() if s["parent"] is None or s["parent"] not in spans]
    todo = [(sid, 0) for sid in tops]
    while todo:
        sid, d = todo.pop()
        depth[sid] = d
        todo.extend((c, d + 1) for c in children.get(sid, []))
    # the root (traces' rule) and whether the request failed as its caller saw it
    root = min(tops, key=lambda sid: (spans[sid]["parent"] is not None, spans[sid]["start"], sid))
    failed = spans[root]["status"] == "ERROR" or int(spans[root].get("http", 0)) >= 500

    def errs(sid: str) -> bool:
        return spans[sid]["status"] == "ERROR" or (failed and sid == root)

    def callee(sid: str) -> tuple[str, str]:
        servers = [c for c, s in spans.items() if s["parent"] == sid and s["kind"] == "server"]
        if servers:
            best = min(servers, key=lambda c: (-(spans[c]["end"] - spans[c]["start"]), c))
            return ("svc", spans[best]["op"])
        return ("svc", spans[sid]["op"])

    def recovered(sid: str) -> bool:
        me = spans[sid]
        return me["parent"] is not None and any(
            other["parent"] == me["parent"]
            and other["status"] != "ERROR"
            and other["start"] >= me["end"]
            and callee(oid) == callee(sid)
            for oid, other in spans.items()
        )

    dismissed: set[str] = set()
    if failed:
        todo2 = [(sid, recovered(sid) and spans[sid]["status"] == "ERROR") for sid in tops]
        while todo2:
            sid, below = todo2.pop()
            if below:
                dismissed.add(sid)
            for c in children.get(sid, []):
                todo2.append((c, below or (spans[c]["status"] == "ERROR" and recovered(c))))
    errored = [sid for sid in spans if errs(sid) and sid not in dismissed]
    if not any(errs(sid) for sid in spans):
        return None

    def has_errored_child(sid: str) -> bool:
        return any(c in errored for c in children.get(sid, []))

    pick = min(
        errored,
        key=lambda sid: (has_errored_child(sid), -depth.get(sid, 0), spans[sid]["start"], sid),
    )
    ties = sum(
        1 for e in errored if not has_errored_child(e) and depth.get(e, 0) == depth.get(pick, 0)
    )
    rule = "earliest_error" if ties > 1 and not has_errored_child(pick) else "deepest_error"
    if pick not in depth:
        return pick, rule
    give_up, slack = spans[pick]["end"], (spans[pick]["end"] - spans[pick]["start"]) // 100
    found: list[tuple[int, int, str]] = []
    walk = [(pick, 0, False)]
    while walk:
        sid, level, abandoned = walk.pop()
        if abandoned:
            found.append((-level, spans[sid]["start"], sid))
        if spans[sid]["kind"] == "producer":
            continue
        for c in children.get(sid, []):
            child = spans[c]
            if child["kind"] == "consumer":
                continue
            if child["start"] < give_up and child["end"] >= give_up - slack:
                cut = child["start"] < spans[sid]["end"] < child["end"]
                walk.append((c, level + 1, abandoned or cut))
    return (min(found)[2], "timeout") if found else (pick, rule)


def test_error_origins_match_python_oracle(span_dataset: Any) -> None:
    """400 random traces (overflowing children, orphans, cycles, every span kind, equal times):
    the SQL view and a plain-Python walk of the same rules agree on every trace."""
    import random

    rng = random.Random(drawn(5))
    kinds = ["server", "client", "internal", "producer", "consumer"]
    traces: dict[str, dict[str, dict[str, Any]]] = {}
    for t in range(400):
        spans: dict[str, dict[str, Any]] = {}
        for i in range(rng.randint(1, 12)):
            sid = f"s{i}"
            if i == 0 or rng.random() < 0.05:
                parent = None if i == 0 else rng.choice(["gone", f"s{rng.randint(0, 11)}"])
                start = rng.randint(0, 50) * 100
                end = start + rng.randint(0, 40) * 100
            else:
                parent = f"s{rng.randrange(i)}"
                p = spans[parent]
                start = rng.randint(p["start"], max(p["start"], p["end"]))
                # Mostly nested children; some overflow their parent (timeouts, skew).
                end = rng.choice(
                    [
                        rng.randint(start, max(start, p["end"])),
                        p["end"],
                        p["end"] - rng.randint(0, 20),
                        p["end"] + rng.randint(1, 900),
                    ]
                )
                end = max(start, end)
            status = "ERROR" if rng.random() < 0.3 else rng.choice(["OK", "UNSET"])
            spans[sid] = {
                "parent": parent,
                "start": start,
                "end": end,
                "status": status,
                "kind": rng.choice(kinds),
                # few operations, so siblings call the same thing: retries, recovered or not
                "op": rng.choice(["get", "put", "scan"]),
                "http": rng.choice([200, 200, 503]) if i == 0 else 200,
            }
        if not any(s["status"] == "ERROR" for s in spans.values()) and spans["s0"]["http"] < 500:
            spans["s0"]["status"] = "ERROR"
        traces[f"t{t:03d}"] = spans
    rows = [
        {
            "trace": t,
            "id": sid,
            "parent": s["parent"],
            "service": "svc",
            "op": s["op"],
            "kind": s["kind"],
            "start": s["start"] / 1000,
            "end": s["end"] / 1000,
            "status": s["status"],
            "attrs": {"http.response.status_code": s["http"]},
        }
        for t, spans in traces.items()
        for sid, s in spans.items()
    ]
    con = span_dataset(rows)
    got = {
        t: (sid, rule)
        for t, sid, rule in con.execute(
            "SELECT trace_id, span_id, rule FROM error_origins"
        ).fetchall()
    }
    want = {t: found for t, spans in traces.items() if (found := _oracle(spans)) is not None}
    assert {r for _, r in want.values()} == {"deepest_error", "earliest_error", "timeout"}
    assert got == want
    # the new rule was exercised: failed requests whose recovered errors were left out
    failed = con.execute("SELECT count(*) FROM error_origins WHERE failed").fetchall()[0][0]
    assert failed > 20
