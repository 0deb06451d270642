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

-- The message destination (queue, topic, exchange) a producer or consumer span names. RabbitMQ's
-- current convention names the exchange, an empty string for the default exchange, whose
-- routing key is then the queue's name.
CREATE OR REPLACE MACRO conv_destination(attributes) AS
    coalesce(nullif(attributes['messaging.destination.name'], ''),
             nullif(attributes['messaging.destination'], ''),
             nullif(attributes['messaging.rabbitmq.destination.routing_key'], ''),
             nullif(attributes['messaging.rabbitmq.routing_key'], ''));

-- The message id a producer or consumer span names.
CREATE OR REPLACE MACRO conv_message_id(attributes) AS
    coalesce(attributes['messaging.message.id'], attributes['messaging.message_id']);

-- Messaging -------------------------------------------------------------------------------------
-- Seen in real data: pika's instrumentation (0.66b1) writes `messaging.destination`,
-- `messaging.message.id` (older releases `messaging.message_id`), `messaging.operation` only on
-- consumers (`receive`) and `messaging.temp_destination` on sends; current conventions write
-- `messaging.destination.name`, `messaging.message.id`, `messaging.operation.type` (`create`,
-- `send`, `receive`, `process`, `settle`; formerly `publish`, `deliver`) and the
-- system-specific `messaging.operation.name` (`ack`, `nack`, `publish`, ...).

-- The messaging system ('rabbitmq', 'kafka', ...); NULL on spans that are not about messages.
CREATE OR REPLACE MACRO conv_messaging_system(attributes) AS
    attributes['messaging.system'];

-- What a messaging span does with its message, in the current convention's terms: 'create',
-- 'send', 'receive', 'process' or 'settle'. Old names map to current ones ('publish' -> 'send',
-- 'deliver' -> 'process'); without an operation attribute the span kind decides (PRODUCER
-- sends, CONSUMER processes), so pika's sends, which carry none, are sends.
CREATE OR REPLACE MACRO conv_messaging_operation(kind, attributes) AS
    CASE lower(coalesce(attributes['messaging.operation.type'], attributes['messaging.operation']))
        WHEN 'publish' THEN 'send'
        WHEN 'deliver' THEN 'process'
        WHEN 'create' THEN 'create'
        WHEN 'send' THEN 'send'
        WHEN 'receive' THEN 'receive'
        WHEN 'process' THEN 'process'
        WHEN 'settle' THEN 'settle'
        ELSE CASE kind WHEN 'producer' THEN 'send' WHEN 'consumer' THEN 'process' END
    END;

-- The conversation (correlation) id of a message.
CREATE OR REPLACE MACRO conv_conversation_id(attributes) AS
    coalesce(attributes['messaging.message.conversation_id'],
             attributes['messaging.conversation_id']);

-- The consumer group (Kafka's group.id, ...) of a consumer span.
CREATE OR REPLACE MACRO conv_consumer_group(attributes) AS
    coalesce(attributes['messaging.consumer.group.name'], attributes['messaging.kafka.consumer.group'],
             attributes['messaging.kafka.consumer_group']);

-- Kafka's partition of the message.
CREATE OR REPLACE MACRO conv_partition(attributes) AS
    coalesce(attributes['messaging.destination.partition.id'],
             attributes['messaging.kafka.destination.partition'], attributes['messaging.kafka.partition']);

-- A settlement's verdict: 'reject' when a consumer refused the message (RabbitMQ nack/reject,
-- Service Bus abandon/dead_letter), 'accept' when it acknowledged it, NULL otherwise.
CREATE OR REPLACE MACRO conv_settlement(attributes) AS
    CASE lower(attributes['messaging.operation.name'])
        WHEN 'nack' THEN 'reject' WHEN 'reject' THEN 'reject' WHEN 'abandon' THEN 'reject'
        WHEN 'dead_letter' THEN 'reject' WHEN 'deadletter' THEN 'reject'
        WHEN 'ack' THEN 'accept' WHEN 'complete' THEN 'accept'
    END;

-- RPC and databases ------------------------------------------------------------------------------

-- RPC system ('grpc', 'connect_rpc', ...), service and method.
CREATE OR REPLACE MACRO conv_rpc_system(attributes) AS
    coalesce(attributes['rpc.system.name'], attributes['rpc.system']);
CREATE OR REPLACE MACRO conv_rpc_service(attributes) AS attributes['rpc.service'];
CREATE OR REPLACE MACRO conv_rpc_method(attributes) AS attributes['rpc.method'];

-- The RPC status code as text: gRPC's numeric code ('0', '14'), Connect's error code.
CREATE OR REPLACE MACRO conv_rpc_status(attributes) AS
    coalesce(attributes['rpc.response.status_code'], attributes['rpc.grpc.status_code'],
             attributes['rpc.connect_rpc.error_code']);

-- Database system, namespace (database name), operation, collection (table) and query text.
CREATE OR REPLACE MACRO conv_db_system(attributes) AS
    coalesce(attributes['db.system.name'], attributes['db.system']);
CREATE OR REPLACE MACRO conv_db_namespace(attributes) AS
    coalesce(attributes['db.namespace'], attributes['db.name']);
CREATE OR REPLACE MACRO conv_db_operation(attributes) AS
    coalesce(attributes['db.operation.name'], attributes['db.operation']);
CREATE OR REPLACE MACRO conv_db_collection(attributes) AS
    coalesce(attributes['db.collection.name'], attributes['db.sql.table'],
             attributes['db.mongodb.collection'], attributes['db.cassandra.table']);
CREATE OR REPLACE MACRO conv_db_query(attributes) AS
    coalesce(attributes['db.query.text'], attributes['db.statement']);

-- Whether the answer a span records says the request failed, whatever its status: an HTTP
-- status of 500 or more, or a gRPC status that marks a server error (UNKNOWN 2,
-- DEADLINE_EXCEEDED 4, UNIMPLEMENTED 12, INTERNAL 13, UNAVAILABLE 14, DATA_LOSS 15, as the
-- gRPC conventions list for server spans). NULL-safe: FALSE when there is no answer.
CREATE OR REPLACE MACRO conv_error_answer(attributes) AS
    coalesce(try_cast(conv_http_status(attributes) AS INTEGER) >= 500, false)
    OR coalesce(conv_rpc_system(attributes) = 'grpc'
                AND conv_rpc_status(attributes) IN ('2', '4', '12', '13', '14', '15'), false);

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
