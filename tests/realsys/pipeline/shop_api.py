"""shop-api: the shop's backend, uninstrumented as the architecture decision chose.

It forwards each order to mes-api with plain `requests` and no OpenTelemetry, so no trace
context leaves it: every order's telemetry starts at mes-api's server span.
"""

from __future__ import annotations

import os

import requests
from flask import Flask, Response, request

app = Flask("shop-api")
MES_API = os.environ["MES_API_URL"]


@app.get("/health")
def health() -> str:
    return "ok"


@app.post("/orders")
def place_order() -> Response:
    answer = requests.post(f"{MES_API}/v1/orders", json=request.get_json(), timeout=30)
    response = Response(answer.content, answer.status_code, content_type="application/json")
    if "X-Trace-Id" in answer.headers:
        response.headers["X-Trace-Id"] = answer.headers["X-Trace-Id"]
    return response


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
