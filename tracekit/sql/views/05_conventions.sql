-- Semantic conventions: the one place that reads convention-specific attribute names.
--
-- Real instrumentation mixes OpenTelemetry semantic-convention versions (and Jaeger/OpenTracing
-- tags): flask/requests instrumentations write `http.status_code`, current ones
-- `http.response.status_code`; pika writes `messaging.destination`, current libraries
-- `messaging.destination.name`. Every view reads these facts through the macros below, which
-- take a span's `attributes` map and answer in the current convention's terms; no other SQL file
-- names a convention attribute. Add a name here when real data shows one (with the library that
-- writes it), never in a view.
--
-- Per-span (each macro reads one span's attributes only).

-- The HTTP response status code as text ('200', '503'), current name first.
CREATE OR REPLACE MACRO conv_http_status(attributes) AS
    coalesce(attributes['http.response.status_code'], attributes['http.status_code']);

-- The service a client span calls, as the caller names it: `peer.service` (set by the caller's
-- configuration), else the server's address (`server.address`, old `net.peer.name`).
CREATE OR REPLACE MACRO conv_peer(attributes) AS
    coalesce(attributes['peer.service'], attributes['server.address'],
             attributes['net.peer.name']);

-- The message destination (queue, topic, exchange) a producer or consumer span names.
CREATE OR REPLACE MACRO conv_destination(attributes) AS
    coalesce(attributes['messaging.destination.name'], attributes['messaging.destination']);

-- The message id a producer or consumer span names.
CREATE OR REPLACE MACRO conv_message_id(attributes) AS
    coalesce(attributes['messaging.message.id'], attributes['messaging.message_id']);

-- The process that recorded a span, as far as its resource tells: the service plus the resource
-- attributes that tell hosts, containers and processes apart. Spans with equal values were
-- timed by one clock; spans with different values may come from clocks that disagree (the
-- critical path allows for clock skew only between those). A list, compared whole.
CREATE OR REPLACE MACRO conv_process(service, resource) AS
    [service, resource['host.id'], resource['host.name'], resource['container.id'],
     resource['k8s.pod.uid'], resource['process.pid'], resource['service.instance.id']];

-- Where a client span's call went, as the caller names it: `peer.service`, else the server's
-- address and port (`server.address`:`server.port`, old `net.peer.name`:`net.peer.port`).
CREATE OR REPLACE MACRO conv_peer_endpoint(attributes) AS
    coalesce(attributes['peer.service'],
             attributes['server.address'] || coalesce(':' || attributes['server.port'], ''),
             attributes['net.peer.name'] || coalesce(':' || attributes['net.peer.port'], ''));
