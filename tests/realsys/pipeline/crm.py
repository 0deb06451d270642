"""crm: consumes the `orders` queue with pika, instrumented; its own log is the ground truth.

Per message it writes one JSON line to CRM_LOG: the order id and what it did (`delivered`,
`rejected`). A valid order is stored (a `store order` span, CRM_DELAY_S long) and acked. An
invalid one is rejected (basic_reject, no requeue: the queue dead-letters it), either loudly
(`reject: raise`: the exception escapes the callback, so pika's instrumentation marks the
consumer span ERROR) or quietly (`reject: quiet`: the `validate order` span records the error,
crm rejects the message and returns normally, so the consumer span stays OK). `telemetry:
consumer` loses the consumer span before export, `telemetry: all` every crm span of the message.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pika
from opentelemetry import trace
from opentelemetry.instrumentation.pika import PikaInstrumentor
from telemetry import LOSE, setup

tracer = setup()
PikaInstrumentor().instrument()
DELAY_S = float(os.environ.get("CRM_DELAY_S", "0"))
log = open(os.environ["CRM_LOG"], "a", buffering=1)  # noqa: SIM115 - open for the process


class RejectedOrder(Exception):
    """A message crm refused; raised out of the callback for `reject: raise`."""


def record(order: dict[str, Any], outcome: str) -> None:
    log.write(json.dumps({"order_id": order["order_id"], "outcome": outcome, "at": time.time()}))
    log.write("\n")


def lose(span: Any, order: dict[str, Any], which: tuple[str, ...]) -> None:
    if order.get("telemetry") in which:
        LOSE.add(span.get_span_context().span_id)


def on_message(channel: Any, method: Any, properties: Any, body: bytes) -> None:
    order = json.loads(body)
    lose(trace.get_current_span(), order, ("consumer", "all"))
    if not order.get("valid", True):
        if order.get("reject") == "raise":
            with tracer.start_as_current_span("validate order") as span:
                lose(span, order, ("all",))
            channel.basic_reject(method.delivery_tag, requeue=False)
            record(order, "rejected")
            raise RejectedOrder(f"order {order['order_id']} rejected: unknown customer")
        try:
            with tracer.start_as_current_span("validate order") as span:
                lose(span, order, ("all",))
                raise ValueError(f"order {order['order_id']}: unknown customer")
        except ValueError:
            channel.basic_reject(method.delivery_tag, requeue=False)
            record(order, "rejected")
            return
    with tracer.start_as_current_span("store order") as span:
        lose(span, order, ("all",))
        time.sleep(DELAY_S)
    channel.basic_ack(method.delivery_tag)
    record(order, "delivered")


def main() -> None:
    connection = pika.BlockingConnection(
        pika.URLParameters(os.environ["AMQP_URL"] + "?heartbeat=0")
    )
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume("orders", on_message)
    while True:
        try:
            channel.start_consuming()
        except RejectedOrder:
            continue  # the message is rejected; keep consuming


if __name__ == "__main__":
    main()
