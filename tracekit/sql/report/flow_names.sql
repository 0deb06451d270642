-- What a flow step can name in the window: services, their operations, the peers client spans
-- call (services that emit no spans), and message destinations.
SELECT DISTINCT 'service' AS kind, service AS name, NULL AS operation
FROM span_rows
WHERE service IS NOT NULL
UNION ALL
SELECT DISTINCT 'operation', service, operation
FROM span_rows
WHERE service IS NOT NULL
UNION ALL
SELECT DISTINCT 'peer', conv_peer(attributes), NULL
FROM span_rows
WHERE kind = 'client' AND conv_peer(attributes) IS NOT NULL
UNION ALL
SELECT DISTINCT 'destination', destination, NULL
FROM message_producers
WHERE destination IS NOT NULL;
