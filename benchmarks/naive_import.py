"""The import an analyst writes first: json.load, a Python loop building dicts, pandas to Parquet.

It is the baseline `bench_import.py` compares `tracekit import` against. It keeps every row in
memory until the end, as such scripts do.

    python benchmarks/naive_import.py OUT.parquet FILE...
"""

from __future__ import annotations

import json
import sys

import pandas as pd


def naive_import(paths: list[str], out: str) -> int:
    """Read Jaeger /api/traces responses with json.load and write one Parquet file with pandas."""
    rows = []
    for path in paths:
        with open(path) as handle:
            doc = json.load(handle)
        for trace in doc["data"]:
            processes = trace["processes"]
            for span in trace["spans"]:
                parent = None
                links = []
                for ref in span.get("references") or []:
                    if ref["refType"] == "CHILD_OF" and parent is None:
                        parent = ref["spanID"]
                    else:
                        links.append(
                            {
                                "trace_id": ref["traceID"],
                                "span_id": ref["spanID"],
                                "kind": ref["refType"].lower(),
                            }
                        )
                tags = {tag["key"]: str(tag["value"]) for tag in span.get("tags") or []}
                process = processes[span["processID"]]
                rows.append(
                    {
                        "trace_id": span["traceID"],
                        "span_id": span["spanID"],
                        "parent_span_id": parent,
                        "service": process["serviceName"],
                        "operation": span["operationName"],
                        "kind": tags.pop("span.kind", "unspecified"),
                        "start_time": span["startTime"],
                        "duration_us": span["duration"],
                        "status": "ERROR" if tags.pop("error", None) == "True" else "UNSET",
                        "attributes": tags,
                        "resource": {tag["key"]: str(tag["value"]) for tag in process["tags"]},
                        "links": links,
                        "events": [
                            {
                                "time": log["timestamp"],
                                "fields": {
                                    field["key"]: str(field["value"]) for field in log["fields"]
                                },
                            }
                            for log in span.get("logs") or []
                        ],
                    }
                )
    frame = pd.DataFrame(rows)
    frame["start_time"] = pd.to_datetime(frame["start_time"], unit="us")
    frame["end_time"] = frame["start_time"] + pd.to_timedelta(frame["duration_us"], unit="us")
    frame = frame.drop_duplicates(subset=["trace_id", "span_id"])
    frame.to_parquet(out)
    return len(frame)


if __name__ == "__main__":
    print(naive_import(sys.argv[2:], sys.argv[1]))
