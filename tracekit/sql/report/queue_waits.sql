-- How long messages waited in each queue before a consumer took them (message_waits: producer
-- end to consumer start), per destination, longest p95 first.
SELECT destination, count(*) AS messages,
       quantile_cont(wait_us, 0.5) / 1000 AS p50_ms,
       quantile_cont(wait_us, 0.95) / 1000 AS p95_ms
FROM message_waits
GROUP BY destination
ORDER BY p95_ms DESC, destination;
