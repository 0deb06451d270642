"""The attribute names and span names simulated instrumentation writes, per convention version.

Real data mixes OpenTelemetry semantic-convention versions, so a scenario picks one
(``instrumentation.conventions``):

* ``old``: what the Python instrumentations write by default today (checked against
  opentelemetry-instrumentation-flask/-requests/-pika 0.66b1 in the real pipeline,
  tests/realsys/pipeline): ``http.method``, ``http.route``, ``http.target``,
  ``http.status_code`` on servers; ``http.method``, ``http.url``, ``http.status_code`` on
  clients; pika's sends named ``{queue} send`` with ``messaging.destination``,
  ``messaging.temp_destination`` and no operation, its consumers ``{queue} receive`` with
  ``messaging.operation: receive``; both with ``messaging.message.id`` when the producer set one
  and the broker's ``net.peer.name``/``net.peer.port``.
* ``current``: the current conventions: ``http.request.method``, ``http.response.status_code``,
  ``server.address``, ``url.template``; ``send {queue}`` / ``process {queue}`` with
  ``messaging.destination.name``, ``messaging.operation.type`` and ``messaging.operation.name``.

Client spans carry ``peer.service`` in both: deployments set it through configuration (the
instrumentations do not), and the analyses use it to name uninstrumented callees.
"""

from __future__ import annotations

from dataclasses import dataclass

Attrs = tuple[tuple[str, ...], tuple[str, ...]]
BROKER = ("rabbitmq", "5672")  # the broker's host name and port, as clients record them


@dataclass(frozen=True)
class Semconv:
    """One convention version: builds the attributes of each kind of simulated span."""

    name: str

    @property
    def old(self) -> bool:
        return self.name == "old"

    def server(self, method: str, route: str, status: str) -> Attrs:
        """An HTTP server span's attributes."""
        if self.old:
            return ("http.method", "http.route", "http.target", "http.status_code"), (
                method,
                route,
                route,
                status,
            )
        return ("http.request.method", "http.route", "http.response.status_code"), (
            method,
            route,
            status,
        )

    def client(self, callee: str, http: tuple[str, str] | None, status: str | None) -> Attrs:
        """A client span calling ``callee`` (``http``: method and route, None for non-HTTP
        calls; ``status`` None when no answer came)."""
        keys: tuple[str, ...] = ("peer.service",)
        values: tuple[str, ...] = (callee,)
        if not self.old:
            keys, values = (*keys, "server.address"), (*values, callee)
        if http is not None:
            method, route = http
            if self.old:
                keys += ("http.method", "http.url")
                values += (method, f"http://{callee}:8080{route}")
            else:
                keys += ("http.request.method", "url.template")
                values += (method, route)
            if status is not None:
                keys += ("http.status_code" if self.old else "http.response.status_code",)
                values += (status,)
        return keys, values

    def send_name(self, destination: str) -> str:
        return f"{destination} send" if self.old else f"send {destination}"

    def receive_name(self, destination: str) -> str:
        return f"{destination} receive" if self.old else f"process {destination}"

    def send(self, system: str, destination: str, message_id: str | None) -> Attrs:
        """A producer span's attributes (``message_id`` None: the producer set none)."""
        if self.old:
            keys: tuple[str, ...] = (
                "messaging.system",
                "messaging.temp_destination",
                "messaging.destination",
            )
            values: tuple[str, ...] = (system, "true", destination)
        else:
            keys = (
                "messaging.system",
                "messaging.destination.name",
                "messaging.operation.type",
                "messaging.operation.name",
            )
            values = (system, destination, "send", "publish")
        return self._with_broker(keys, values, message_id)

    def receive(self, system: str, destination: str, message_id: str | None) -> Attrs:
        """A consumer span's attributes."""
        if self.old:
            keys: tuple[str, ...] = (
                "messaging.system",
                "messaging.operation",
                "messaging.destination",
            )
            values: tuple[str, ...] = (system, "receive", destination)
        else:
            keys = (
                "messaging.system",
                "messaging.destination.name",
                "messaging.operation.type",
                "messaging.operation.name",
            )
            values = (system, destination, "process", "process")
        return self._with_broker(keys, values, message_id)

    def _with_broker(
        self, keys: tuple[str, ...], values: tuple[str, ...], message_id: str | None
    ) -> Attrs:
        if message_id is not None:
            keys, values = (*keys, "messaging.message.id"), (*values, message_id)
        if self.old:
            keys, values = (*keys, "net.peer.name", "net.peer.port"), (*values, *BROKER)
        return keys, values


SEMCONV = {name: Semconv(name) for name in ("old", "current")}
