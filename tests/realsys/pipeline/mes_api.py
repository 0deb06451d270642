"""mes-api: MES's external API (Flask, calling mes with requests), instrumented.

An order asking to fail here (`fail_at: mes-api`) raises, so Flask answers 500; a mes failure
is answered with 502. The answer carries the order's trace id (X-Trace-Id), which the runner
keeps as the order's record: shop-api propagates nothing, so this trace is the order's.
"""

from __future__ import annotations

import os

import requests
from flask import Flask, Response, jsonify, request
from opentelemetry import trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from telemetry import setup

setup()
app = Flask("mes-api")
FlaskInstrumentor().instrument_app(app, excluded_urls="health")
RequestsInstrumentor().instrument()
MES = os.environ["MES_URL"]


@app.get("/health")
def health() -> str:
    return "ok"


@app.post("/v1/orders")
def accept_order() -> tuple[Response, int]:
    order = request.get_json()
    if order.get("fail_at") == "mes-api":
        raise RuntimeError(f"order {order['order_id']}: order database unavailable")
    answer = requests.post(f"{MES}/production-orders", json=order, timeout=15)
    if answer.status_code >= 500:
        return jsonify(error=f"mes answered {answer.status_code}"), 502
    return jsonify(answer.json()), 202


@app.after_request
def trace_header(response: Response) -> Response:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        response.headers["X-Trace-Id"] = trace.format_trace_id(context.trace_id)
    return response


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
