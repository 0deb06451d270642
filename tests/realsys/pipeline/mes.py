"""mes: plans the order and publishes it with pika to RabbitMQ, instrumented.

Orders go to the `orders` queue through the default exchange, by channel: `standard` to
`orders` (crm consumes it), `express` to `orders.express` (a queue with a short TTL that nobody
consumes yet: its messages expire), `priority` to `orders.priority` (no queue is bound to that
routing key: the broker drops the message). With MESSAGE_IDS=1 each message gets a
`message_id`; without, none (as many producers do). `fail_at: mes` raises (HTTP 500).
"""

from __future__ import annotations

import json
import os
import threading
import uuid

import pika
from flask import Flask, Response, jsonify, request
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.pika import PikaInstrumentor
from telemetry import setup

setup()
PikaInstrumentor().instrument()
app = Flask("mes")
FlaskInstrumentor().instrument_app(app, excluded_urls="health")
ROUTES = {"standard": "orders", "express": "orders.express", "priority": "orders.priority"}
MESSAGE_IDS = os.environ.get("MESSAGE_IDS") == "1"
# One connection shared by the server's threads; pika's BlockingConnection is not thread-safe.
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"] + "?heartbeat=0"))
channel = connection.channel()
lock = threading.Lock()


@app.get("/health")
def health() -> str:
    return "ok"


@app.post("/production-orders")
def plan_order() -> tuple[Response, int]:
    order = request.get_json()
    if order.get("fail_at") == "mes":
        raise RuntimeError(f"order {order['order_id']}: planning failed")
    message_id = uuid.uuid4().hex if MESSAGE_IDS else None
    properties = pika.BasicProperties(
        content_type="application/json", delivery_mode=2, message_id=message_id
    )
    with lock:
        channel.basic_publish(
            exchange="",
            routing_key=ROUTES[order["channel"]],
            body=json.dumps(order).encode(),
            properties=properties,
        )
    return jsonify(order_id=order["order_id"], message_id=message_id), 202


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
